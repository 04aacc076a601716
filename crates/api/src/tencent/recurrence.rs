//! Expanding a recurring meeting's rule into its occurrences (`sub_meetings`).
//!
//! Tencent's `recurring_rule`: `recurring_type` 0 daily, 1 weekdays (Mon–Fri), 2 weekly,
//! 3 every two weeks, 4 monthly (same day of month; months without that day are skipped);
//! `until_type` 0 ends on `until_date` (unix seconds), 1 after `until_count` occurrences.
//! Days are counted in UTC; at most `MAX_OCCURRENCES` are produced.

use chrono::{DateTime, Datelike, Months, Utc, Weekday};
use serde::{Deserialize, Serialize};

pub const MAX_OCCURRENCES: usize = 50;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct RecurringRule {
    #[serde(default)]
    pub recurring_type: u8,
    #[serde(default)]
    pub until_type: u8,
    #[serde(default)]
    pub until_date: i64,
    #[serde(default = "default_count")]
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

    /// The start times of every occurrence, beginning with `first_start`.
    pub fn occurrences(&self, first_start: i64) -> Vec<i64> {
        let Some(first) = DateTime::<Utc>::from_timestamp(first_start, 0) else { return Vec::new() };
        let limit = if self.until_type == 1 { self.until_count as usize } else { MAX_OCCURRENCES };
        let mut out = Vec::new();
        let mut step: u32 = 0;
        // Bounded: every iteration either produces an occurrence or advances toward the end.
        while out.len() < limit.min(MAX_OCCURRENCES) && step < 400 {
            let candidate = match self.recurring_type {
                0 | 1 => Some(first + chrono::Duration::days(step as i64)),
                2 => Some(first + chrono::Duration::weeks(step as i64)),
                3 => Some(first + chrono::Duration::weeks(2 * step as i64)),
                _ => first.checked_add_months(Months::new(step)).filter(|d| d.day() == first.day()),
            };
            step += 1;
            let Some(t) = candidate else { continue };
            if self.recurring_type == 1 && matches!(t.weekday(), Weekday::Sat | Weekday::Sun) {
                continue;
            }
            if self.until_type == 0 && t.timestamp() > self.until_date {
                break;
            }
            out.push(t.timestamp());
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
        assert_eq!(daily.occurrences(FRI), vec![FRI, FRI + 86_400, FRI + 2 * 86_400]);
        let weekly = RecurringRule { recurring_type: 2, until_type: 0, until_date: FRI + 15 * 86_400, until_count: 0 };
        assert_eq!(weekly.occurrences(FRI), vec![FRI, FRI + 7 * 86_400, FRI + 14 * 86_400]);
    }

    #[test]
    fn weekdays_skip_the_weekend_and_months_skip_missing_days() {
        let weekdays = RecurringRule { recurring_type: 1, until_type: 1, until_date: 0, until_count: 3 };
        // Friday, then Monday and Tuesday.
        assert_eq!(weekdays.occurrences(FRI), vec![FRI, FRI + 3 * 86_400, FRI + 4 * 86_400]);
        // 2027-01-31: February has no 31st.
        let jan31 = 1_801_389_600;
        let monthly = RecurringRule { recurring_type: 4, until_type: 1, until_date: 0, until_count: 3 };
        let got = monthly.occurrences(jan31);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|t| DateTime::<Utc>::from_timestamp(*t, 0).unwrap().day() == 31));
    }

    #[test]
    fn rules_are_validated() {
        assert!(RecurringRule { recurring_type: 9, until_type: 1, until_date: 0, until_count: 2 }.validate().is_err());
        assert!(RecurringRule { recurring_type: 0, until_type: 0, until_date: 0, until_count: 2 }.validate().is_err());
        assert!(RecurringRule { recurring_type: 0, until_type: 1, until_date: 0, until_count: 51 }.validate().is_err());
    }
}
