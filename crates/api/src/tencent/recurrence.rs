//! Expanding a recurring meeting's rule into its occurrences (`sub_meetings`).
//!
//! Tencent's `recurring_rule`: `recurring_type` 0 daily, 1 weekdays (Mon–Fri), 2 weekly,
//! 3 every two weeks, 4 monthly (same day of month; months without that day are skipped);
//! `until_type` 0 ends on `until_date` (unix seconds), 1 after `until_count` occurrences.
//! Days are counted in the meeting's time zone, so a 09:00 meeting stays at 09:00 local time
//! across a daylight-saving change; without a time zone, in UTC. At most `MAX_OCCURRENCES`.

use chrono::{DateTime, Datelike, Days, Months, NaiveDateTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

pub const MAX_OCCURRENCES: usize = 50;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RecurringRule {
    /// 0 daily, 1 weekdays, 2 weekly, 3 every two weeks, 4 monthly.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 4)]
    pub recurring_type: u8,
    /// 0 until `until_date`, 1 for `until_count` occurrences.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1)]
    pub until_type: u8,
    /// Unix seconds.
    #[serde(default)]
    pub until_date: i64,
    #[serde(default = "default_count")]
    #[schema(minimum = 1, maximum = 50)]
    pub until_count: u32,
}

fn default_count() -> u32 {
    7
}

impl RecurringRule {
    pub fn validate(&self) -> Result<(), String> {
        if self.recurring_type > 4 {
            return Err("recurring_rule.recurring_type must be 0 to 4".into());
        }
        match self.until_type {
            0 if self.until_date <= 0 => Err("recurring_rule.until_date is required when until_type is 0".into()),
            1 if self.until_count == 0 || self.until_count as usize > MAX_OCCURRENCES => {
                Err(format!("recurring_rule.until_count must be 1 to {MAX_OCCURRENCES}"))
            }
            0 | 1 => Ok(()),
            _ => Err("recurring_rule.until_type must be 0 or 1".into()),
        }
    }

    /// The start times of every occurrence, beginning with `first_start`, with days counted
    /// in `time_zone` (an IANA name; empty or unknown means UTC).
    pub fn occurrences(&self, first_start: i64, time_zone: &str) -> Vec<i64> {
        match time_zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => self.occurrences_in(first_start, &tz),
            Err(_) => self.occurrences_in(first_start, &Utc),
        }
    }

    fn occurrences_in<Z: TimeZone>(&self, first_start: i64, tz: &Z) -> Vec<i64> {
        let Some(first) = DateTime::<Utc>::from_timestamp(first_start, 0) else { return Vec::new() };
        let local: NaiveDateTime = first.with_timezone(tz).naive_local();
        let limit = if self.until_type == 1 { self.until_count as usize } else { MAX_OCCURRENCES };
        let mut out = Vec::new();
        let mut step: u32 = 0;
        // Bounded: every iteration either produces an occurrence or advances toward the end.
        while out.len() < limit.min(MAX_OCCURRENCES) && step < 400 {
            let candidate = match self.recurring_type {
                0 | 1 => local.checked_add_days(Days::new(step as u64)),
                2 => local.checked_add_days(Days::new(7 * step as u64)),
                3 => local.checked_add_days(Days::new(14 * step as u64)),
                _ => local.checked_add_months(Months::new(step)).filter(|d| d.day() == local.day()),
            };
            step += 1;
            let Some(wall) = candidate else { continue };
            if self.recurring_type == 1 && matches!(wall.weekday(), Weekday::Sat | Weekday::Sun) {
                continue;
            }
            // A wall-clock time skipped by a daylight-saving jump is taken an hour later.
            let Some(t) = tz
                .from_local_datetime(&wall)
                .earliest()
                .or_else(|| tz.from_local_datetime(&(wall + chrono::Duration::hours(1))).earliest())
            else {
                continue;
            };
            let t = t.timestamp();
            if self.until_type == 0 && t > self.until_date {
                break;
            }
            out.push(t);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-20 10:00 UTC is a Friday.
    const FRI: i64 = 1_795_168_800;

    #[test]
    fn daily_by_count_and_weekly_by_date() {
        let daily = RecurringRule { recurring_type: 0, until_type: 1, until_date: 0, until_count: 3 };
        assert_eq!(daily.occurrences(FRI, ""), vec![FRI, FRI + 86_400, FRI + 2 * 86_400]);
        let weekly = RecurringRule { recurring_type: 2, until_type: 0, until_date: FRI + 15 * 86_400, until_count: 0 };
        assert_eq!(weekly.occurrences(FRI, ""), vec![FRI, FRI + 7 * 86_400, FRI + 14 * 86_400]);
    }

    #[test]
    fn weekdays_skip_the_weekend_and_months_skip_missing_days() {
        let weekdays = RecurringRule { recurring_type: 1, until_type: 1, until_date: 0, until_count: 3 };
        // Friday, then Monday and Tuesday.
        assert_eq!(weekdays.occurrences(FRI, ""), vec![FRI, FRI + 3 * 86_400, FRI + 4 * 86_400]);
        // 2027-01-31: February has no 31st.
        let jan31 = 1_801_389_600;
        let monthly = RecurringRule { recurring_type: 4, until_type: 1, until_date: 0, until_count: 3 };
        let got = monthly.occurrences(jan31, "UTC");
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|t| DateTime::<Utc>::from_timestamp(*t, 0).unwrap().day() == 31));
    }

    #[test]
    fn days_are_counted_in_the_meeting_time_zone() {
        // 2026-10-30 09:00 in New York is 13:00 UTC (EDT). Daylight saving ends on 1 November,
        // so the next week's 09:00 (EST) is 14:00 UTC: a week and an hour later.
        let start = 1_793_365_200; // 2026-10-30T13:00:00Z
        let weekly = RecurringRule { recurring_type: 2, until_type: 1, until_date: 0, until_count: 2 };
        assert_eq!(weekly.occurrences(start, "America/New_York"), vec![start, start + 7 * 86_400 + 3600]);
        assert_eq!(weekly.occurrences(start, ""), vec![start, start + 7 * 86_400], "UTC keeps exact weeks");
        // Weekdays are local: 2026-11-20 23:30 in Shanghai is a Friday there (15:30Z Friday).
        let fri_late = 1_795_188_600; // 2026-11-20T15:30:00Z = 23:30 CST
        let wd = RecurringRule { recurring_type: 1, until_type: 1, until_date: 0, until_count: 2 };
        assert_eq!(wd.occurrences(fri_late, "Asia/Shanghai"), vec![fri_late, fri_late + 3 * 86_400]);
    }

    #[test]
    fn rules_are_validated() {
        assert!(RecurringRule { recurring_type: 9, until_type: 1, until_date: 0, until_count: 2 }.validate().is_err());
        assert!(RecurringRule { recurring_type: 0, until_type: 0, until_date: 0, until_count: 2 }.validate().is_err());
        assert!(RecurringRule { recurring_type: 0, until_type: 1, until_date: 0, until_count: 51 }.validate().is_err());
    }
}
