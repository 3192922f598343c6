//! One running worker and its pipes: sending a request, reading one reply, and noticing
//! anything the worker writes when nobody asked.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::lines::Output;
use crate::process::{ExitWatch, earliest, kill_group, poll};
use crate::protocol::{Decoder, ProtocolError, Reply};

/// How long a worker that closed its reply pipe gets to exit on its own before it is killed.
pub(super) const EXIT_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) watch: ExitWatch,
    pub(super) requests: File,
    pub(super) replies: File,
    pub(super) decoder: Decoder,
    pub(super) ready: bool,
    /// Replied before reading its whole request: it was killed and must be replaced.
    pub(super) desynced: bool,
    pub(super) output: Output,
}

/// How one exchange with a worker ended.
pub(super) enum Exchange {
    Reply(Reply),
    TimedOut,
    /// It ended; `killed`: by the bootstrap, after it closed its reply pipe but lingered.
    Exited {
        status: Option<ExitStatus>,
        killed: bool,
    },
    Broken(ProtocolError),
    Io(io::Error),
}

impl Running {
    /// What the worker wrote on its reply pipe while no request was outstanding (the start of
    /// it, for messages), read without waiting. A worker that keeps the protocol has nothing
    /// there: anything is a reply too many or too late, which must never be taken as the
    /// answer to the request about to be sent.
    /// One read is enough to know (and bounds what a worker writing without end costs).
    pub(super) fn unsolicited(&mut self) -> io::Result<Option<String>> {
        if self.decoder.pending() == 0 {
            let mut buffer = [0u8; 1024];
            loop {
                match self.replies.read(&mut buffer) {
                    // Ok(0) is end of file: it exited, which the exchange reports.
                    Ok(n) => self.decoder.push(&buffer[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                break;
            }
        }
        Ok((self.decoder.pending() > 0).then(|| self.decoder.pending_start()))
    }

    /// Why this worker cannot serve another request after the reply just returned, if so.
    pub(super) fn unfit(&mut self) -> Option<String> {
        if self.desynced {
            Some("replied before reading its whole request".into())
        } else if self.decoder.pending() > 0 {
            Some(format!(
                "wrote more after its reply (`{}`)",
                self.decoder.pending_start()
            ))
        } else if self.watch.check(&mut self.child).is_some() {
            Some("exited right after replying".into())
        } else {
            None
        }
    }

    /// Writes `outgoing` to the worker and reads one reply, until `cutoff`.
    pub(super) fn exchange(&mut self, outgoing: &[&[u8]], cutoff: Option<Instant>) -> Exchange {
        let mut segment = 0;
        let mut offset = 0;
        let mut writing = outgoing.iter().any(|s| !s.is_empty());
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match self.decoder.next_reply() {
                Ok(Some(reply)) => {
                    // Lines printed before the reply belong to this invocation's log.
                    self.output.drain_available(&mut buffer);
                    if writing {
                        // Replied before reading the whole request: the streams are out of
                        // step, so this worker cannot serve another invocation.
                        kill_group(self.child.id());
                        self.desynced = true;
                    }
                    return Exchange::Reply(reply);
                }
                Ok(None) => {}
                Err(e) => return Exchange::Broken(e),
            }
            if self.watch.check(&mut self.child).is_some() {
                // Dead: whatever it wrote before dying may still complete a reply.
                if let Err(e) = self.drain(&mut buffer) {
                    return Exchange::Io(e);
                }
                return match self.decoder.next_reply() {
                    Ok(Some(reply)) => Exchange::Reply(reply),
                    Ok(None) => Exchange::Exited {
                        status: self.watch.status(),
                        killed: false,
                    },
                    Err(e) => Exchange::Broken(e),
                };
            }
            let now = Instant::now();
            if cutoff.is_some_and(|c| now >= c) {
                return Exchange::TimedOut;
            }
            let mut fds = vec![libc::pollfd {
                fd: self.replies.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            if writing {
                fds.push(libc::pollfd {
                    fd: self.requests.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                });
            }
            let output_from = fds.len();
            let (output_indices, output_fds): (Vec<usize>, Vec<libc::pollfd>) =
                self.output.pollfds().into_iter().unzip();
            fds.extend(output_fds);
            fds.extend(self.watch.pollfd());
            let wake = earliest(cutoff, self.watch.poll_slice().map(|s| now + s));
            if let Err(e) = poll(&mut fds, wake) {
                return Exchange::Io(e);
            }
            for (offset, index) in output_indices.into_iter().enumerate() {
                if fds[output_from + offset].revents != 0 {
                    self.output.pump(index, &mut buffer);
                }
            }
            if writing && fds[1].revents != 0 {
                match self.requests.write(&outgoing[segment][offset..]) {
                    Ok(n) => {
                        offset += n;
                        while segment < outgoing.len() && offset >= outgoing[segment].len() {
                            segment += 1;
                            offset = 0;
                        }
                        writing = segment < outgoing.len();
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    // It closed its request pipe: it is going away; its exit tells the rest.
                    Err(_) => writing = false,
                }
            }
            if fds[0].revents != 0 {
                match self.replies.read(&mut buffer) {
                    Ok(0) => {
                        let status = self.watch.settle(&mut self.child, EXIT_GRACE);
                        return match self.decoder.next_reply() {
                            Ok(Some(reply)) => Exchange::Reply(reply),
                            Ok(None) => Exchange::Exited {
                                status,
                                killed: self.watch.killed(),
                            },
                            Err(e) => Exchange::Broken(e),
                        };
                    }
                    Ok(n) => self.decoder.push(&buffer[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return Exchange::Io(e),
                }
            }
        }
    }

    /// Reads whatever is left in the reply pipe without waiting.
    fn drain(&mut self, buffer: &mut [u8]) -> io::Result<()> {
        loop {
            match self.replies.read(buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => self.decoder.push(&buffer[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
