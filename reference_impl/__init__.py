"""The answer key: one readable module per component, mirroring the learner's `myllm` package.

`reference_impl/<module>.py` has the same names, signatures and semantics as `myllm/<module>.py`
(see shared CURRICULUM.md), so the hidden tests compare like with like. Learner code may not import it.
"""
