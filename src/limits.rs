//! Process resource limits.

/// Raises the soft limit on open files to the hard limit, as Go programs (Prometheus,
/// node_exporter) do at start. Every scrape connection holds a descriptor, and the usual soft
/// limit (1024) is reached by a thousand concurrent clients, after which new connections wait
/// in the kernel's queue. Returns the limit in force afterwards.
pub fn raise_open_files_limit() -> Option<libc::rlim_t> {
    let limit = open_files_limit()?;
    if limit.rlim_cur >= limit.rlim_max {
        return Some(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct it is given. Raising the soft limit up to the
    // hard one needs no privilege; where the system refuses (macOS caps an infinite hard limit),
    // the old limit simply stays.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Some(limit.rlim_cur);
    }
    tracing::debug!(
        from = limit.rlim_cur,
        to = raised.rlim_cur,
        "raised the open files limit"
    );
    Some(raised.rlim_cur)
}

fn open_files_limit() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let before = open_files_limit().expect("limit");
        // Lower the soft limit first (allowed without privilege), unless it cannot go lower
        // without starving the other tests of this process.
        let lowered = libc::rlimit {
            rlim_cur: before.rlim_max.min(512),
            rlim_max: before.rlim_max,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let raised = raise_open_files_limit().expect("limit");
        let after = open_files_limit().expect("limit");
        assert_eq!(after.rlim_cur, before.rlim_max);
        assert_eq!(raised, after.rlim_cur);
    }
}
