-- Keys are inserted in time order, so the table's rowids follow their age: expired keys are
-- swept from the low end of the table, and the age index (a page written per claim) goes.
DROP INDEX idempotency_keys_by_age;
