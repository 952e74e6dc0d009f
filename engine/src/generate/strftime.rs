//! `strftime_now(format)` for chat templates (Llama 3's inserts today's
//! date): the common C `strftime` fields, in UTC. A render may fix the
//! time it reports ([`NowGuard`]), so prompts are reproducible.

use minijinja::ErrorKind;
use std::cell::Cell;

thread_local! {
    /// The `now` of the render under way on this thread.
    static RENDER_NOW: Cell<Option<i64>> = const { Cell::new(None) };
}

pub(super) struct NowGuard(Option<i64>);

impl NowGuard {
    pub(super) fn set(now: Option<i64>) -> Self {
        NowGuard(RENDER_NOW.with(|c| c.replace(now)))
    }
}

impl Drop for NowGuard {
    fn drop(&mut self) {
        RENDER_NOW.with(|c| c.set(self.0));
    }
}

fn current_time() -> std::result::Result<i64, minijinja::Error> {
    if let Some(t) = RENDER_NOW.with(Cell::get) {
        return Ok(t);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| {
                minijinja::Error::new(ErrorKind::InvalidOperation, "the clock is before 1970")
            })?;
        Ok(d.as_secs() as i64)
    }
    #[cfg(target_arch = "wasm32")]
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        "strftime_now: this target has no clock; pass RenderOptions::now",
    ))
}

/// `strftime_now(format)`: the current UTC time, formatted with the common
/// C `strftime` fields (`%Y %y %m %d %e %H %I %M %S %p %b %B %a %A %j %%`).
pub(super) fn strftime_now(format: String) -> std::result::Result<String, minijinja::Error> {
    strftime(&format, current_time()?)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The civil (proleptic Gregorian) date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn strftime(format: &str, unix: i64) -> std::result::Result<String, minijinja::Error> {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = cumulative[month as usize - 1] + day + u32::from(leap && month > 2);
    let month_name = MONTHS[month as usize - 1];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        match spec {
            'Y' => out.push_str(&year.to_string()),
            'y' => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            'm' => out.push_str(&format!("{month:02}")),
            'd' => out.push_str(&format!("{day:02}")),
            'e' => out.push_str(&format!("{day:2}")),
            'H' => out.push_str(&format!("{hour:02}")),
            'I' => out.push_str(&format!("{:02}", (hour + 11) % 12 + 1)),
            'M' => out.push_str(&format!("{minute:02}")),
            'S' => out.push_str(&format!("{second:02}")),
            'p' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'b' | 'h' => out.push_str(&month_name[..3]),
            'B' => out.push_str(month_name),
            'a' => out.push_str(&DAYS[weekday][..3]),
            'A' => out.push_str(DAYS[weekday]),
            'j' => out.push_str(&format!("{yday:03}")),
            '%' => out.push('%'),
            other => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: unsupported field %{other}"),
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_fields() {
        // 2024-07-26 13:05:09 UTC, a Friday, day 208 of a leap year.
        let t = 1_722_000_000 - 1_722_000_000 % 86_400 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(
            strftime("%d %b %Y|%A %a|%B %m %y|%H:%M:%S %I%p|%j|%e|%%", t).unwrap(),
            "26 Jul 2024|Friday Fri|July 07 24|13:05:09 01PM|208|26|%"
        );
        assert_eq!(strftime("%Y-%m-%d", 0).unwrap(), "1970-01-01");
        assert_eq!(strftime("%Y-%m-%d %a", -86_400).unwrap(), "1969-12-31 Wed");
        assert_eq!(strftime("%Y-%m-%d", 951_782_400).unwrap(), "2000-02-29");
        assert!(strftime("%Q", 0).is_err());
    }
}
