-- The fallback lookup by service number, this index's only reader, now uses
-- call_records_live (the previous migration). Every call insert and status change
-- wrote this index as well; it goes.
DROP INDEX call_records_service_number;
