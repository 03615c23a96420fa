-- Traffic counters stop at 2^53 - 1 bytes (store::traffic::MAX_COUNTER). PostgreSQL
-- refused overflowing sums, so only counters past the ceiling need bringing back to it.
UPDATE client_traffic SET up = 9007199254740991 WHERE up > 9007199254740991;
UPDATE client_traffic SET down = 9007199254740991 WHERE down > 9007199254740991;
UPDATE client_traffic SET all_time = 9007199254740991 WHERE all_time > 9007199254740991;
UPDATE inbound_traffic SET up = 9007199254740991 WHERE up > 9007199254740991;
UPDATE inbound_traffic SET down = 9007199254740991 WHERE down > 9007199254740991;
UPDATE inbound_traffic SET all_time = 9007199254740991 WHERE all_time > 9007199254740991;
UPDATE outbound_traffic SET up = 9007199254740991 WHERE up > 9007199254740991;
UPDATE outbound_traffic SET down = 9007199254740991 WHERE down > 9007199254740991;
UPDATE server_traffic_hourly SET up = 9007199254740991 WHERE up > 9007199254740991;
UPDATE server_traffic_hourly SET down = 9007199254740991 WHERE down > 9007199254740991;
UPDATE client_traffic_hourly SET up = 9007199254740991 WHERE up > 9007199254740991;
UPDATE client_traffic_hourly SET down = 9007199254740991 WHERE down > 9007199254740991;
