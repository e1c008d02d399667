-- Who sent it: each province grants on its own delegations topic ("own"); admin's shared topic
-- ("shared": migration) counts for a unit only while its province's topic says nothing of it,
-- as in every worker's registry (processors/router.py delegation_effect).
ALTER TABLE delegations ADD COLUMN layer text NOT NULL DEFAULT 'shared';
