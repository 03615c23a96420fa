//! Schedules as 3x-ui writes them for its report (`tgRunTime`, robfig/cron): `@hourly`,
//! `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly` (`@annually`), `@every 1h30m`,
//! and cron lines of five fields (minute hour day month weekday) or six (seconds first; the
//! seconds are ignored: nothing here runs more than once a minute). A field is `*`, `?`, a
//! number, a range `a-b`, a step `*/n` or `a-b/n`, or a list of those.
//!
//! A job asks for the latest time its schedule fired at or before now ([`Schedule::latest`])
//! and runs when that is after its last run, so a controller that was down across a firing
//! runs the missed one once when it is back.

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every so many seconds, counted from the last run.
    Every(i64),
    Cron(Box<Cron>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: [bool; 60],
    hours: [bool; 24],
    days: [bool; 32],
    months: [bool; 13],
    weekdays: [bool; 7],
    /// Both day fields restricted: either may match (cron's rule).
    day_or_weekday: bool,
}

impl Schedule {
    /// Reads `text`, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let cron = |line: &str| Self::parse(line);
        match text {
            "@yearly" | "@annually" => cron("0 0 1 1 *"),
            "@monthly" => cron("0 0 1 * *"),
            "@weekly" => cron("0 0 * * 0"),
            "@daily" | "@midnight" => cron("0 0 * * *"),
            "@hourly" => cron("0 * * * *"),
            _ if text.starts_with("@every ") => {
                let seconds = duration(text["@every ".len()..].trim())?;
                if seconds < 60 {
                    return Err(format!("`{text}`: at least one minute apart"));
                }
                Ok(Self::Every(seconds))
            }
            _ if text.starts_with('@') => Err(format!("`{text}` is no schedule")),
            _ => {
                let fields: Vec<&str> = text.split_whitespace().collect();
                let fields = match fields.len() {
                    5 => &fields[..],
                    6 => &fields[1..],
                    n => {
                        return Err(format!(
                            "`{text}` has {n} fields; a cron line has 5 (or 6 with seconds)"
                        ))
                    }
                };
                let mut c = Cron {
                    minutes: [false; 60],
                    hours: [false; 24],
                    days: [false; 32],
                    months: [false; 13],
                    weekdays: [false; 7],
                    day_or_weekday: fields[2] != "*"
                        && fields[2] != "?"
                        && fields[4] != "*"
                        && fields[4] != "?",
                };
                field(fields[0], 0, 59, &mut c.minutes)?;
                field(fields[1], 0, 23, &mut c.hours)?;
                field(fields[2], 1, 31, &mut c.days)?;
                field(fields[3], 1, 12, &mut c.months)?;
                let mut weekdays = [false; 8];
                field(fields[4], 0, 7, &mut weekdays)?;
                for (d, on) in weekdays.iter().enumerate() {
                    if *on {
                        c.weekdays[d % 7] = true;
                    }
                }
                Ok(Self::Cron(Box::new(c)))
            }
        }
    }

    /// The latest time (epoch ms) at or before `now_ms` this schedule fired, for a job last
    /// run at `last_ms`; `offset` gives the zone's seconds east of UTC at an instant.
    /// `Every` fires a whole period after the last run.
    pub fn latest(&self, now_ms: i64, last_ms: i64, offset: impl Fn(i64) -> i64) -> Option<i64> {
        match self {
            Self::Every(s) => {
                let at = last_ms + s * 1000;
                (at <= now_ms).then_some(at)
            }
            Self::Cron(c) => {
                // Minute by minute back, at most a year and a day.
                let mut minute = now_ms.div_euclid(60_000);
                for _ in 0..(367 * 24 * 60) {
                    let unix = minute * 60;
                    let local =
                        time::OffsetDateTime::from_unix_timestamp(unix + offset(unix)).ok()?;
                    if c.matches(&local) {
                        return Some(unix * 1000);
                    }
                    minute -= 1;
                }
                None
            }
        }
    }
}

impl Cron {
    fn matches(&self, t: &time::OffsetDateTime) -> bool {
        let day = self.days[usize::from(t.day())];
        let weekday = self.weekdays[usize::from(t.weekday().number_days_from_sunday())];
        let day_ok = if self.day_or_weekday {
            day || weekday
        } else {
            day && weekday
        };
        self.minutes[usize::from(t.minute())]
            && self.hours[usize::from(t.hour())]
            && self.months[usize::from(u8::from(t.month()))]
            && day_ok
    }
}

fn field(text: &str, low: usize, high: usize, out: &mut [bool]) -> Result<(), String> {
    let bad = || format!("`{text}` is not a cron field of {low}-{high}");
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().map_err(|_| bad())?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(bad());
        }
        let (a, b) = match range {
            "*" | "?" => (low, high),
            _ => match range.split_once('-') {
                Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
                None => {
                    let n: usize = range.parse().map_err(|_| bad())?;
                    (n, if item.contains('/') { high } else { n })
                }
            },
        };
        if a < low || b > high || a > b {
            return Err(bad());
        }
        for v in (a..=b).step_by(step) {
            out[v] = true;
        }
    }
    Ok(())
}

/// Go's durations as cron's `@every` takes them: `90s`, `30m`, `1h30m`, `2h`.
fn duration(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a duration like 30m or 1h30m");
    let mut total = 0i64;
    let mut number = String::new();
    if text.is_empty() {
        return Err(bad());
    }
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTC: fn(i64) -> i64 = |_| 0;
    // 2026-12-07 10:17:00 UTC, a Monday.
    const NOW: i64 = 1_796_638_620_000;

    #[test]
    fn schedules_fire_where_3x_ui_fires_them() {
        let daily = Schedule::parse("@daily").unwrap();
        assert_eq!(daily.latest(NOW, 0, UTC), Some(1_796_601_600_000));
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(hourly.latest(NOW, 0, UTC), Some(1_796_637_600_000));
        // Six fields (seconds first), 08:30 on weekdays.
        let cron = Schedule::parse("0 30 8 * * 1-5").unwrap();
        assert_eq!(cron.latest(NOW, 0, UTC), Some(1_796_632_200_000));
        // Sunday 00:00 as 0 or 7.
        let weekly = Schedule::parse("@weekly").unwrap();
        assert_eq!(
            weekly.latest(NOW, 0, UTC),
            Schedule::parse("0 0 * * 7").unwrap().latest(NOW, 0, UTC)
        );
        // Three hours east: the local midnight is 21:00 UTC the day before.
        assert_eq!(
            daily.latest(NOW, 0, |_| 3 * 3600),
            Some(1_796_601_600_000 - 3 * 3600 * 1000)
        );
        let every = Schedule::parse("@every 1h30m").unwrap();
        assert_eq!(every, Schedule::Every(5400));
        assert_eq!(every.latest(NOW, NOW - 5_000_000, UTC), None);
        assert_eq!(every.latest(NOW, NOW - 5_400_000, UTC), Some(NOW));
        for bad in [
            "",
            "@sometimes",
            "@every 10s",
            "@every 1d",
            "61 * * * *",
            "* * *",
            "*/0 * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
