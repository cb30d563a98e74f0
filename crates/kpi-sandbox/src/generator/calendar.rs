//! Calendar: seasonality, trend, Madrid time, workdays, webinars.

use super::*;

/// B2B demand by calendar: strong Jan-Mar and Sep-Nov, a deep August, a dead
/// Christmas week, and weekends at about 40% of a weekday.
pub(super) fn seasonality(date: NaiveDate) -> f64 {
    const MONTH: [f64; 12] = [
        1.08, 1.12, 1.10, 1.00, 0.99, 0.94, 0.86, 0.62, 1.06, 1.12, 1.09, 0.92,
    ];
    let mut f = MONTH[date.month0() as usize];
    match (date.month(), date.day()) {
        (12, d) if d >= 22 => f *= 0.5,
        (1, 1) => f *= 0.45,
        (1, d) if d <= 6 => f *= 0.8,
        _ => {}
    }
    f * match date.weekday() {
        Weekday::Sat => 0.42,
        Weekday::Sun => 0.38,
        Weekday::Fri => 0.9,
        Weekday::Mon => 1.02,
        _ => 1.0,
    }
}

/// About +25% a year, anchored at `end`: the documented volumes are today's,
/// and the past was smaller.
pub(super) fn trend(date: NaiveDate, end: NaiveDate) -> f64 {
    1.25_f64.powf(date.signed_duration_since(end).num_days() as f64 / 365.25)
}

pub(super) fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .expect("valid month");
    let last = next.pred_opt().expect("not the first day ever");
    last - Days::new(u64::from(last.weekday().num_days_from_sunday()))
}

/// Europe/Madrid's UTC offset in hours, valid from 03:00 local time on (CEST runs
/// from the last Sunday of March to the last Sunday of October). We only place
/// events in working hours, so the switch hour itself never matters.
pub(super) fn madrid_offset_hours(date: NaiveDate) -> i64 {
    let y = date.year();
    if date >= last_sunday(y, 3) && date < last_sunday(y, 10) {
        2
    } else {
        1
    }
}

/// UTC epoch milliseconds of `seconds` after local midnight in Madrid.
pub(super) fn madrid_ms(date: NaiveDate, seconds: i64) -> i64 {
    let midnight = date.and_time(NaiveTime::MIN).and_utc().timestamp();
    (midnight + seconds - madrid_offset_hours(date) * 3600) * 1000
}

/// A random moment of the working day (08:00-20:00 Madrid), in UTC millis.
pub(super) fn business_ms(rng: &mut ChaCha8Rng, date: NaiveDate) -> i64 {
    madrid_ms(date, rng.random_range(8 * 3600..20 * 3600))
}

/// Sales people do not move deals on weekends: push to Monday.
pub(super) fn workday(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d + Days::new(2),
        Weekday::Sun => d + Days::new(1),
        _ => d,
    }
}

pub(super) fn after(rng: &mut ChaCha8Rng, d: NaiveDate, min_days: u64, max_days: u64) -> NaiveDate {
    workday(d + Days::new(rng.random_range(min_days..=max_days)))
}

pub(super) fn days_in_month(d: NaiveDate) -> f64 {
    let first = d.with_day(1).expect("day 1 exists");
    let next = first + Months::new(1);
    next.signed_duration_since(first).num_days() as f64
}

/// Partner webinars: third Thursday of every month except August.
pub(super) fn webinar_in(year: i32, month: u32) -> Option<NaiveDate> {
    if month == 8 {
        return None;
    }
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Thu, 3)
}

/// The first partner webinar on or after `date`.
pub(super) fn next_webinar(date: NaiveDate) -> Option<NaiveDate> {
    let mut month = date.with_day(1)?;
    for _ in 0..3 {
        if let Some(w) = webinar_in(month.year(), month.month())
            && w >= date
        {
            return Some(w);
        }
        month = month + Months::new(1);
    }
    None
}

pub(super) use kpi_core::period::MONTH_NAMES;
