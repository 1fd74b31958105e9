//! Where "now" comes from. Every age, deadline and breach depends on it, so it is passed to
//! whatever needs it, and tests and demos can freeze it.

/// The data's clock.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    /// A frozen instant (Unix seconds), for reproducible output (`--debug.fixed-now`).
    Fixed(i64),
}

impl Clock {
    /// The clock `--debug.fixed-now` asks for: the system's without it, else frozen at its
    /// RFC 3339 instant.
    pub fn from_flag(fixed_now: Option<&str>) -> Result<Clock, String> {
        match fixed_now {
            None => Ok(Clock::System),
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| Clock::Fixed(t.timestamp()))
                .map_err(|e| format!("--debug.fixed-now {t:?}: {e}")),
        }
    }

    pub fn now(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// Now by the real time, for events of the process rather than of the data (reloads): it runs
/// even when `--debug.fixed-now` freezes the data's clock.
pub fn wall_clock() -> i64 {
    Clock::System.now()
}
