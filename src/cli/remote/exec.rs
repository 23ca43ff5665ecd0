//! Running the command: one channel, an empty stdin, stdout and stderr read
//! together without stalling (bounded in size), then the exit status or the
//! signal that ended it.

use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};

use ssh2::{BlockDirections, Session};

use super::deadline::Deadline;
use super::error::{RemoteError, Step, lowercase, os_reason};
use super::{EXIT_SIGNAL_UNKNOWN, Options, Output};

/// Read buffer for the command's output.
const READ_CHUNK_BYTES: usize = 32 * 1024;

/// Starts the command, reads stdout and stderr together until both end, then
/// collects the exit status.
pub(super) fn execute(
    session: &Session,
    socket: &TcpStream,
    command: &str,
    options: &Options,
    deadline: &Deadline,
) -> Result<Output, RemoteError> {
    deadline.arm(session, Step::Running)?;
    let mut channel = session
        .channel_session()
        .map_err(|e| deadline.ssh(Step::Running, &e))?;
    let result = talk(session, &mut channel, socket, command, options, deadline);
    if result.is_err() {
        // Freeing the channel waits for the server's close, up to the session
        // timeout: a dead socket ends that wait at once.
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
    result
}

fn talk(
    session: &Session,
    channel: &mut ssh2::Channel,
    socket: &TcpStream,
    command: &str,
    options: &Options,
    deadline: &Deadline,
) -> Result<Output, RemoteError> {
    let ssh = |step, e: ssh2::Error| deadline.ssh(step, &e);
    channel.exec(command).map_err(|e| ssh(Step::Running, e))?;
    // The command gets an empty stdin, never a wait for input.
    channel.send_eof().map_err(|e| ssh(Step::Running, e))?;
    session.set_blocking(false);
    let read = read_both(
        session,
        channel,
        socket.as_raw_fd(),
        options.output_max_bytes,
        deadline,
    );
    session.set_blocking(true);
    let (stdout, stderr) = read?;
    deadline.arm(session, Step::Closing)?;
    channel.wait_close().map_err(|e| ssh(Step::Closing, e))?;
    let status = channel.exit_status().map_err(|e| ssh(Step::Closing, e))?;
    let signal = channel
        .exit_signal()
        .map_err(|e| ssh(Step::Closing, e))?
        .exit_signal;
    let exit_code = match &signal {
        Some(name) => signal_number(name).map_or(EXIT_SIGNAL_UNKNOWN, |n| 128 + n),
        None => status,
    };
    Ok(Output {
        stdout,
        stderr,
        exit_code,
        signal,
    })
}

/// Reads both streams of a non-blocking channel until the server's EOF, so that
/// a command filling one stream while we wait on the other cannot stall.
fn read_both(
    session: &Session,
    channel: &ssh2::Channel,
    fd: RawFd,
    limit: usize,
    deadline: &Deadline,
) -> Result<(Vec<u8>, Vec<u8>), RemoteError> {
    let mut streams = [
        (Vec::new(), channel.stream(0)),
        (Vec::new(), channel.stderr()),
    ];
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        // Data comes before EOF: EOF seen before two empty reads means all read.
        let eof_before = channel.eof();
        let mut progressed = false;
        for (index, (buffer, stream)) in streams.iter_mut().enumerate() {
            let n = match stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => {
                    return Err(RemoteError::Ssh {
                        target: deadline.target.clone(),
                        step: Step::Running,
                        reason: lowercase(&e.to_string()),
                    });
                }
            };
            if buffer.len() + n > limit {
                return Err(RemoteError::OutputTooLarge {
                    target: deadline.target.clone(),
                    stream: ["stdout", "stderr"][index],
                    limit,
                });
            }
            buffer.extend_from_slice(&chunk[..n]);
            progressed |= n > 0;
        }
        if progressed || channel.eof() != eof_before {
            continue;
        }
        if eof_before {
            let [(stdout, _), (stderr, _)] = streams;
            return Ok((stdout, stderr));
        }
        wait_socket(session, fd, deadline)?;
    }
}

/// Waits until the socket is ready in the direction libssh2 is blocked on.
fn wait_socket(session: &Session, fd: RawFd, deadline: &Deadline) -> Result<(), RemoteError> {
    let events = match session.block_directions() {
        BlockDirections::Outbound => libc::POLLOUT,
        BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
    };
    let left_ms = deadline.left_ms(Step::Running)?;
    let mut poll_fd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let timeout = i32::try_from(left_ms).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd, and its count; `fd` lives as long as the session.
    let rc = unsafe { libc::poll(&raw mut poll_fd, 1, timeout) };
    match rc {
        0 => Err(deadline.timed_out(Step::Running)),
        n if n > 0 => Ok(()),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(RemoteError::Network {
                    target: deadline.target.clone(),
                    step: Step::Running,
                    reason: os_reason(&e),
                })
            }
        }
    }
}

/// A signal's Linux number from its SSH name (RFC 4254 section 6.10).
fn signal_number(name: &str) -> Option<i32> {
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "ABRT" => libc::SIGABRT,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_the_shells_exit_codes() {
        assert_eq!(signal_number("TERM").map(|n| 128 + n), Some(143));
        assert_eq!(signal_number("KILL").map(|n| 128 + n), Some(137));
        assert_eq!(signal_number("WINCH"), None);
    }
}
