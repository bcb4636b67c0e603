"""The ranges of PostgreSQL's integer columns: every id from outside is checked against them
before it reaches SQL (a larger one is a clear 4xx or a dead letter, not a database error)."""

INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
