"""Ordered, named schema migrations. Never edit one that has shipped: add the next."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_initial", """
CREATE TABLE profile (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL DEFAULT 'learner',
    created_at TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT ''
);
CREATE TABLE unit_progress (
    unit_id TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'locked',
    first_pass_at TEXT,
    proficient_at TEXT,
    mastered_at TEXT,
    hints_used INTEGER NOT NULL DEFAULT 0,
    time_spent_s REAL NOT NULL DEFAULT 0
);
CREATE TABLE attempt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    verdict TEXT,
    message TEXT NOT NULL DEFAULT '',
    results_json TEXT NOT NULL DEFAULT '{}',
    duration_s REAL NOT NULL DEFAULT 0,
    code_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_attempt_unit ON attempt (unit_id, created_at);
CREATE TABLE answer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id TEXT NOT NULL,
    question_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    answer TEXT NOT NULL,
    verdict TEXT NOT NULL,
    grader TEXT NOT NULL,
    feedback TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_answer_unit ON answer (unit_id, question_id);
CREATE TABLE hint_use (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
"""),
    ("0002_sessions_reviews", """
CREATE TABLE session (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    unit_id TEXT,
    step_index INTEGER NOT NULL DEFAULT 0,
    minutes_planned INTEGER NOT NULL DEFAULT 60,
    offline INTEGER NOT NULL DEFAULT 1,
    mentor_name TEXT,
    mentor_hash TEXT,
    provider TEXT,
    model TEXT,
    summary TEXT NOT NULL DEFAULT '',
    next_step TEXT NOT NULL DEFAULT ''
);
CREATE TABLE message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES session (id),
    created_at TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    reasoning TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'complete',
    provider TEXT,
    model TEXT,
    persona TEXT,
    prompt_tokens INTEGER,
    cached_tokens INTEGER,
    completion_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    latency_s REAL
);
CREATE INDEX ix_message_session ON message (session_id, id);
CREATE TABLE review_card (
    unit_id TEXT NOT NULL,
    question_id TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state_json TEXT NOT NULL DEFAULT '{}',
    reps INTEGER NOT NULL DEFAULT 0,
    lapses INTEGER NOT NULL DEFAULT 0,
    last_review_at TEXT,
    PRIMARY KEY (unit_id, question_id)
);
ALTER TABLE attempt ADD COLUMN session_id INTEGER;
ALTER TABLE answer ADD COLUMN session_id INTEGER;
ALTER TABLE answer ADD COLUMN is_review INTEGER NOT NULL DEFAULT 0;
"""),
    ("0003_answer_counts_revealed", """
ALTER TABLE answer ADD COLUMN counts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE answer ADD COLUMN revealed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE answer ADD COLUMN option_order TEXT;
ALTER TABLE answer ADD COLUMN chosen TEXT;
UPDATE answer SET counts = 0 WHERE verdict = 'refused'
"""),
    # A session that started online and lost its provider partway (offline = 0 stays true of its start).
    ("0004_session_went_offline", """
ALTER TABLE session ADD COLUMN went_offline_at TEXT;
ALTER TABLE session ADD COLUMN back_online_at TEXT
"""),
    # `mentor doctor --measure`: the learner's machines, measured (several runs per machine are kept).
    ("0005_machine_profile", """
CREATE TABLE machine_profile (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_key TEXT NOT NULL,
    hostname TEXT NOT NULL,
    cpu_model TEXT NOT NULL,
    gpu_name TEXT,
    measured_at TEXT NOT NULL,
    results_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_machine_profile_machine_key ON machine_profile (machine_key, id)
"""),
    # Every check records the machine it ran on (hostname, CPU model, GPU name or none).
    ("0006_attempt_machine", """
ALTER TABLE attempt ADD COLUMN machine_host TEXT;
ALTER TABLE attempt ADD COLUMN machine_cpu TEXT;
ALTER TABLE attempt ADD COLUMN machine_gpu TEXT
"""),
    # `mentor lab`: each lab run, its measurement, the learner's prediction and the bound it was compared with.
    ("0007_labs", """
CREATE TABLE lab_run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    session_id INTEGER,
    code_hash TEXT NOT NULL DEFAULT '',
    seed INTEGER NOT NULL,
    machine_key TEXT NOT NULL,
    hostname TEXT NOT NULL,
    figure_key TEXT NOT NULL,
    unit_label TEXT NOT NULL DEFAULT '',
    predicted REAL,
    measured REAL,
    factor REAL NOT NULL,
    within INTEGER,
    bound REAL,
    bound_source TEXT,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    figures_json TEXT NOT NULL DEFAULT '{}',
    svg_path TEXT
);
CREATE INDEX ix_lab_run_unit ON lab_run (unit_id, created_at)
"""),
    # `mentor interview`: one row per review taken, one per question answered in it. Rows carry
    # natural keys (review + started_at + host) so `mentor sync` merges them without id remapping.
    ("0008_interview", """
CREATE TABLE interview (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    review TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    machine_host TEXT NOT NULL DEFAULT '',
    practice INTEGER NOT NULL DEFAULT 0,
    grader TEXT NOT NULL DEFAULT 'self',
    passed INTEGER NOT NULL DEFAULT 0,
    questions INTEGER NOT NULL DEFAULT 0,
    questions_passed INTEGER NOT NULL DEFAULT 0,
    context_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_interview_review ON interview (review, started_at);
CREATE TABLE interview_answer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    review TEXT NOT NULL,
    interview_started_at TEXT NOT NULL,
    question_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    asked TEXT NOT NULL,
    answer TEXT NOT NULL,
    follow_up TEXT,
    follow_up_answer TEXT,
    grader TEXT NOT NULL,
    verdict TEXT NOT NULL,
    met_json TEXT NOT NULL DEFAULT '[]',
    feedback TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_interview_answer_review ON interview_answer (review, interview_started_at)
"""),
]
