//! Private servers (nginx, Caddy, PostgreSQL, node, chromedriver and its
//! Chromium, the Gatehouse binary) that die with the test process, even
//! when it is killed rather than dropped: each is started in a process
//! group of its own with `PR_SET_PDEATHSIG`, and [`GroupGuard`] kills the
//! whole group (a master and the workers it forked) when dropped.
//!
//! This is the one module of the project with `unsafe` code: the
//! `pre_exec` hook runs between fork and exec, where only
//! async-signal-safe calls are allowed; it makes two (`prctl`, `getppid`).
#![allow(unsafe_code)]

use std::io;

/// Make `cmd` start its process in a new process group, to be killed by
/// the kernel (SIGKILL) when the thread that started it ends.
pub fn dies_with_us(cmd: &mut tokio::process::Command) -> &mut tokio::process::Command {
    dies_with_us_std(cmd.as_std_mut());
    cmd
}

/// [`dies_with_us`] for a `std` command.
pub fn dies_with_us_std(cmd: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only
    // calls `prctl` and `getppid`, both async-signal-safe; it allocates
    // nothing and touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the prctl: nobody will kill us later.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(io::Error::other("the test process is gone"));
            }
            Ok(())
        });
    }
    cmd
}

/// Kills a child's whole process group when dropped (the child must have
/// been started by [`dies_with_us`], so its group id is its pid).
#[derive(Debug)]
pub struct GroupGuard(Option<u32>);

impl GroupGuard {
    /// Guard the group of `child`.
    pub fn of(child: &tokio::process::Child) -> Self {
        Self(child.id())
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.and_then(|p| libc::pid_t::try_from(p).ok())
            && pgid > 1
        {
            // SAFETY: killpg only sends a signal; a group that is already
            // gone answers ESRCH, which is fine.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}
