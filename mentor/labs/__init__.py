"""Hardware labs: the learner's measured machine profile (`mentor doctor --measure`)."""
