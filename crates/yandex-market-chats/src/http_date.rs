//! Tolerant parsing of HTTP dates (`X-RateLimit-Resource-Until`, `Date`,
//! `Retry-After`).
//!
//! chrono's RFC 2822 parser refuses a date whose weekday does not match, and
//! the API's own documentation shows one (`Thu, 10 Jul 2018` was a Tuesday):
//! refusing it would lose the reset time. So the weekday is ignored, and the
//! three forms of RFC 9110 §5.6.7 are read, with or without a weekday:
//! - IMF-fixdate / RFC 1123 and RFC 822: `Sun, 06 Nov 1994 08:49:37 GMT`
//!   (also a numeric zone such as `+0300`);
//! - RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`;
//! - asctime: `Sun Nov  6 08:49:37 1994`.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};

/// Month names: HTTP's abbreviations and, tolerated, the full names.
const MONTHS: [(&str, &str); 12] = [
    ("jan", "january"),
    ("feb", "february"),
    ("mar", "march"),
    ("apr", "april"),
    ("may", "may"),
    ("jun", "june"),
    ("jul", "july"),
    ("aug", "august"),
    ("sep", "september"),
    ("oct", "october"),
    ("nov", "november"),
    ("dec", "december"),
];

/// Parses an HTTP date; `None` when it is none of the forms above.
pub(crate) fn parse(text: &str) -> Option<DateTime<Utc>> {
    let mut tokens: Vec<&str> = text
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    // Any weekday, right or wrong, is ignored.
    if tokens.first().is_some_and(|t| {
        t.len() >= 3 && t.chars().all(|c| c.is_ascii_alphabetic()) && month(t).is_none()
    }) {
        tokens.remove(0);
    }
    match tokens.as_slice() {
        // asctime: `Nov 6 08:49:37 1994`
        [mon, day, time, year] if month(mon).is_some() => {
            build(year_of(year)?, month(mon)?, day.parse().ok()?, time, 0)
        }
        // RFC 850: `06-Nov-94 08:49:37 GMT`
        [date, time, zone @ ..] if date.contains('-') && zone.len() <= 1 => {
            let mut parts = date.split('-');
            let (day, mon, year) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            build(
                year_of(year)?,
                month(mon)?,
                day.parse().ok()?,
                time,
                offset(zone.first().copied())?,
            )
        }
        // RFC 1123 / 822: `06 Nov 1994 08:49:37 GMT`
        [day, mon, year, time, zone @ ..] if zone.len() <= 1 => build(
            year_of(year)?,
            month(mon)?,
            day.parse().ok()?,
            time,
            offset(zone.first().copied())?,
        ),
        _ => None,
    }
}

fn month(name: &str) -> Option<u32> {
    let lower = name.to_ascii_lowercase();
    let position = MONTHS
        .iter()
        .position(|(short, full)| lower == *short || lower == *full)?;
    u32::try_from(position + 1).ok()
}

/// Two-digit years (RFC 850) are taken as 1970..=2069.
fn year_of(text: &str) -> Option<i32> {
    let year: i32 = text.parse().ok()?;
    match (text.len(), year) {
        (2, 70..) => Some(1900 + year),
        (2, _) => Some(2000 + year),
        (4, _) => Some(year),
        _ => None,
    }
}

/// The zone's offset east of UTC in seconds; no zone means GMT.
fn offset(zone: Option<&str>) -> Option<i32> {
    let Some(zone) = zone else { return Some(0) };
    match zone.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => Some(0),
        numeric if numeric.len() == 5 && (numeric.starts_with('+') || numeric.starts_with('-')) => {
            // `get`, not indexing: never a panic on a character boundary.
            let hours: i32 = numeric.get(1..3)?.parse().ok()?;
            let minutes: i32 = numeric.get(3..5)?.parse().ok()?;
            let seconds = hours * 3600 + minutes * 60;
            Some(if numeric.starts_with('-') {
                -seconds
            } else {
                seconds
            })
        }
        _ => None,
    }
}

fn build(year: i32, month: u32, day: u32, time: &str, offset: i32) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S").ok()?;
    let local = date.and_time(time);
    let utc = local.checked_sub_signed(chrono::TimeDelta::seconds(i64::from(offset)))?;
    Some(Utc.from_utc_datetime(&utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_form_with_or_without_a_weekday() {
        let expected = at("1994-11-06T08:49:37Z");
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 11:49:37 +0300",
            "Sun, 06 Nov 1994 14:19:37 +0530",
            "Sun, 06 Nov 1994 03:49:37 -0500",
            "Sun, 06 Nov 1994 08:49:37 -0000",
            "Sun, 6 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37",
            "Sunday, 06 November 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn a_wrong_weekday_is_ignored() {
        // The API's documentation example: 10 July 2018 was a Tuesday.
        assert_eq!(
            parse("Thu, 10 Jul 2018 00:42:42 GMT"),
            Some(at("2018-07-10T00:42:42Z"))
        );
    }

    #[test]
    fn garbage_and_impossible_dates_are_none() {
        for text in [
            "",
            "soon",
            "Thu, 31 Feb 2018 00:00:00 GMT",
            "Thu, 10 Jul 2018 25:00:00 GMT",
            "Thu, 10 Foo 2018 00:00:00 GMT",
            "Thu, 10 Julx 2018 00:00:00 GMT",
            "Thu, 10 Ju 2018 00:00:00 GMT",
            "Thu, 10 Jul 2018 00:00:00 MARS",
            "Thu, 10 Jul 2018 00:00:00 +030",
            "Thu, 10 Jul 2018 00:00:00 0300",
            "Thu, 10 Jul 2018 00:00:00 03000",
            "Thu, 10 Jul 2018 00:00:00 +03x0",
            "Thu, 10 Jul 2018 00:00:00 +0\u{e9}0",
            "Thu, 10 Jul 18000 00:00:00 GMT",
            "10-Jul-2018-1 00:00:00 GMT",
            // Anything after the zone.
            "Tuesday, 10-Jul-18 00:42:42 GMT later",
            "Tue, 10 Jul 2018 00:42:42 GMT later",
            "Tue Jul 10 00:42:42 2018 GMT",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn far_years_parse_without_panicking() {
        assert!(parse("Fri, 31 Dec 9999 23:59:59 GMT").is_some());
        assert!(parse("Mon, 01 Jan 0001 00:00:00 +2359").is_some());
    }
}
