-- How a session ended and for how long it charged, as the operator reports them: stop_code in
-- a closed vocabulary (battery_full, driver, operator, fault, unplugged, with stop_reason keeping the
-- driver's words), charged_s from the operator's own start/end times or the CDR's total_time.
ALTER TABLE charge_sessions ADD COLUMN stop_code TEXT;
ALTER TABLE charge_sessions ADD COLUMN charged_s REAL;
