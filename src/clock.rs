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
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Fixed(t) => *t,
        }
    }
}
