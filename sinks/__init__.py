"""The PostgreSQL sink: the record of every event, and the SLA reports."""
