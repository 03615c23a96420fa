//! Periodic traffic resets (3x-ui's `PeriodicTrafficResetJob`): an inbound with an hourly,
//! daily, weekly or monthly period is reset once its last reset is older than the latest
//! period boundary. Comparing against the boundary, instead of firing at it like a cron,
//! means a controller that was down across a boundary does the missed reset once when it is
//! back. Boundaries follow 3x-ui's cron: the hour, midnight, Sunday midnight, the first of
//! the month at midnight, in the zone of the `timeLocation` setting.

use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

/// The setting that names the time zone of reset boundaries (3x-ui's key).
pub const TIME_LOCATION: &str = "timeLocation";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    /// The period of an inbound's `traffic_reset`; `None` for `never` and anything unknown.
    pub fn parse(traffic_reset: &str) -> Option<Self> {
        match traffic_reset {
            "hourly" => Some(Self::Hourly),
            "daily" => Some(Self::Daily),
            "weekly" => Some(Self::Weekly),
            "monthly" => Some(Self::Monthly),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }
}

/// The zone boundaries are computed in: UTC, or an IANA zone read from the system's tz
/// database (`/usr/share/zoneinfo`).
pub struct Zone(Option<tz::TimeZone>);

impl Zone {
    pub fn utc() -> Self {
        Self(None)
    }

    /// The zone a `timeLocation` value names: empty, `UTC` or `Etc/UTC` is UTC; `Local` (3x-ui's
    /// default) is the host's zone (`/etc/localtime`, UTC when it has none); anything else
    /// must be an IANA zone name the system's tz database knows.
    pub fn from_setting(value: Option<&str>) -> Result<Self, String> {
        let name = value.map(str::trim).unwrap_or("");
        match name {
            "" | "UTC" | "Etc/UTC" => Ok(Self::utc()),
            "Local" => Ok(Self(tz::TimeZone::local().ok())),
            _ => crate::util::iana_zone(name).map(|zone| Self(Some(zone))),
        }
    }

    /// Seconds east of UTC at `unix_s`.
    pub fn offset(&self, unix_s: i64) -> i64 {
        match &self.0 {
            None => 0,
            Some(zone) => zone
                .find_local_time_type(unix_s)
                .map(|t| i64::from(t.ut_offset()))
                .unwrap_or(0),
        }
    }
}

/// The latest boundary of `period` at or before `now_ms`, in epoch milliseconds.
pub fn last_boundary(period: Period, zone: &Zone, now_ms: i64) -> i64 {
    let now_s = now_ms.div_euclid(1000);
    let offset_now = zone.offset(now_s);
    let Ok(local) = OffsetDateTime::from_unix_timestamp(now_s + offset_now) else {
        return now_ms;
    };
    let date = local.date();
    let (day, hour) = match period {
        Period::Hourly => (date, local.hour()),
        Period::Daily => (date, 0),
        Period::Weekly => (
            date - time::Duration::days(i64::from(date.weekday().number_days_from_sunday())),
            0,
        ),
        Period::Monthly => (
            Date::from_calendar_date(date.year(), date.month(), 1).unwrap_or(date),
            0,
        ),
    };
    let wall = PrimitiveDateTime::new(day, Time::from_hms(hour, 0, 0).expect("valid hour"))
        .assume_utc()
        .unix_timestamp();
    // The wall time back to an instant, with the offset in force then (DST may differ from
    // now); should a gap put that after `now`, the current offset gives one that is not.
    let guess = wall - offset_now;
    let at = wall - zone.offset(guess);
    let at = if at > now_s { guess } else { at };
    at * 1000
}

/// Whether an inbound with this period, last reset at `last_reset` (0 = never) and created
/// at `created_at`, is due for a reset at `now_ms`. An inbound created after the latest
/// boundary waits for the next one.
pub fn due(period: Period, zone: &Zone, last_reset: i64, created_at: i64, now_ms: i64) -> bool {
    last_reset.max(created_at) < last_boundary(period, zone, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch ms of a UTC wall time.
    fn utc(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> i64 {
        let date = Date::from_calendar_date(y, time::Month::try_from(mo).unwrap(), d).unwrap();
        PrimitiveDateTime::new(date, Time::from_hms(h, mi, 0).unwrap())
            .assume_utc()
            .unix_timestamp()
            * 1000
    }

    #[test]
    fn boundaries_in_utc() {
        let z = Zone::utc();
        // Wednesday 2025-03-12 14:37 UTC.
        let now = utc(2025, 3, 12, 14, 37);
        assert_eq!(
            last_boundary(Period::Hourly, &z, now),
            utc(2025, 3, 12, 14, 0)
        );
        assert_eq!(
            last_boundary(Period::Daily, &z, now),
            utc(2025, 3, 12, 0, 0)
        );
        assert_eq!(
            last_boundary(Period::Weekly, &z, now),
            utc(2025, 3, 9, 0, 0)
        );
        assert_eq!(
            last_boundary(Period::Monthly, &z, now),
            utc(2025, 3, 1, 0, 0)
        );
        // Exactly on a boundary, it is that boundary.
        let midnight = utc(2025, 3, 1, 0, 0);
        assert_eq!(last_boundary(Period::Monthly, &z, midnight), midnight);
    }

    #[test]
    fn boundaries_in_a_named_zone_follow_its_wall_clock() {
        let Ok(kolkata) = Zone::from_setting(Some("Asia/Kolkata")) else {
            eprintln!("no tz database on this host: zone test skipped");
            return;
        };
        // 2025-03-12 20:00 UTC is 01:30 on the 13th in Kolkata (+05:30).
        let now = utc(2025, 3, 12, 20, 0);
        assert_eq!(
            last_boundary(Period::Daily, &kolkata, now),
            utc(2025, 3, 12, 18, 30)
        );
        assert_eq!(
            last_boundary(Period::Hourly, &kolkata, now),
            utc(2025, 3, 12, 19, 30)
        );
        let berlin = Zone::from_setting(Some("Europe/Berlin")).unwrap();
        // Summer time: midnight in Berlin is 22:00 UTC the day before.
        assert_eq!(
            last_boundary(Period::Monthly, &berlin, utc(2025, 7, 15, 12, 0)),
            utc(2025, 6, 30, 22, 0)
        );
        // On the day clocks go forward, midnight was still winter time.
        assert_eq!(
            last_boundary(Period::Daily, &berlin, utc(2025, 3, 30, 12, 0)),
            utc(2025, 3, 29, 23, 0)
        );
    }

    #[test]
    fn zone_names_are_checked() {
        assert!(Zone::from_setting(None).is_ok());
        assert!(Zone::from_setting(Some("Local")).is_ok());
        for bad in ["../../etc/passwd", "/etc/shadow", "Europe/Nowhere", "a b"] {
            assert!(Zone::from_setting(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missed_boundary_is_due_once() {
        let z = Zone::utc();
        let created = utc(2025, 3, 10, 9, 0);
        // Same day: not due; the day after: due, even if the controller was down at midnight.
        assert!(!due(
            Period::Daily,
            &z,
            0,
            created,
            utc(2025, 3, 10, 23, 59)
        ));
        let back = utc(2025, 3, 13, 8, 0);
        assert!(due(Period::Daily, &z, 0, created, back));
        // Once reset at `back`, not again until the next midnight.
        assert!(!due(
            Period::Daily,
            &z,
            back,
            created,
            utc(2025, 3, 13, 23, 0)
        ));
        assert!(due(
            Period::Daily,
            &z,
            back,
            created,
            utc(2025, 3, 14, 0, 0)
        ));
    }
}
