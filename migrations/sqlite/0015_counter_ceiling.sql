-- Traffic counters stop at 2^53 - 1 bytes (store::traffic::MAX_COUNTER). Counters an
-- overflowing delta turned into REAL (or pushed past the ceiling) are brought back to an
-- integer at the ceiling, so the pages that read them answer again.
UPDATE client_traffic SET up = 9007199254740991 WHERE typeof(up) <> 'integer' OR up > 9007199254740991;
UPDATE client_traffic SET down = 9007199254740991 WHERE typeof(down) <> 'integer' OR down > 9007199254740991;
UPDATE client_traffic SET all_time = 9007199254740991 WHERE typeof(all_time) <> 'integer' OR all_time > 9007199254740991;
UPDATE inbound_traffic SET up = 9007199254740991 WHERE typeof(up) <> 'integer' OR up > 9007199254740991;
UPDATE inbound_traffic SET down = 9007199254740991 WHERE typeof(down) <> 'integer' OR down > 9007199254740991;
UPDATE inbound_traffic SET all_time = 9007199254740991 WHERE typeof(all_time) <> 'integer' OR all_time > 9007199254740991;
UPDATE outbound_traffic SET up = 9007199254740991 WHERE typeof(up) <> 'integer' OR up > 9007199254740991;
UPDATE outbound_traffic SET down = 9007199254740991 WHERE typeof(down) <> 'integer' OR down > 9007199254740991;
UPDATE server_traffic_hourly SET up = 9007199254740991 WHERE typeof(up) <> 'integer' OR up > 9007199254740991;
UPDATE server_traffic_hourly SET down = 9007199254740991 WHERE typeof(down) <> 'integer' OR down > 9007199254740991;
UPDATE client_traffic_hourly SET up = 9007199254740991 WHERE typeof(up) <> 'integer' OR up > 9007199254740991;
UPDATE client_traffic_hourly SET down = 9007199254740991 WHERE typeof(down) <> 'integer' OR down > 9007199254740991;
