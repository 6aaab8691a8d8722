"""A run's work folder beside its output: the journal that makes a killed run resume,
and the segments it has encoded."""
