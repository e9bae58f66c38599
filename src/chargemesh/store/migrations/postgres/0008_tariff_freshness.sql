-- Prices drivers see: a T/CEC station's time-of-use periods are fetched from the operator
-- (query_equip_business_policy) when first needed and kept with the time they were fetched, so
-- later reads are cheap until they age. NULL: periods as published (OCPI Tariffs, fee text).
ALTER TABLE tariffs ADD COLUMN fetched_at TIMESTAMPTZ;
