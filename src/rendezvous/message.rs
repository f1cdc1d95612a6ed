//! The rendezvous messages: [`Message`] to bytes and back (docs/protocol.md section 9.2).
//!
//! Like [`crate::wire`], this module keeps no state, reads no clock and never panics on
//! received bytes: every length is checked before it is used, and a datagram that is not a
//! valid message is a [`MessageError`] saying what was wrong.
//!
//! A rendezvous message shares its UDP socket with Ferry segments, so it opens with a magic of
//! its own, "RV", where a segment opens with "FR" ([`crate::wire::MAGIC`]): the first two
//! octets tell them apart ([`is_rendezvous`]).
//!
//! ```
//! use ferry::rendezvous::message::{Body, Message};
//!
//! let introduce = Message {
//!     nonce: 0x0123_4567_89ab_cdef,
//!     body: Body::Introduce {
//!         observed: "203.0.113.4:4000".parse().unwrap(),
//!         peer: "198.51.100.7:5000".parse().unwrap(),
//!         mappings: None,
//!     },
//! };
//! let mut datagram = Vec::new();
//! introduce.emit(&mut datagram);
//! assert!(ferry::rendezvous::message::is_rendezvous(&datagram));
//! assert_eq!(Message::parse(&datagram), Ok(introduce));
//! ```

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The magic number that opens every rendezvous message: ASCII "RV". A Ferry segment opens
/// with "FR" ([`crate::wire::MAGIC`]), so one socket carries both.
pub const MAGIC: u16 = 0x5256;

/// The version of the rendezvous messages this module speaks and accepts.
pub const VERSION: u8 = 1;

/// Length of the fixed header: magic, version, type, nonce, CRC-32.
pub const HEADER_LEN: usize = 16;

/// The longest name a peer may register, in octets.
pub const MAX_NAME_LEN: usize = 64;

/// The shortest REGISTER: a client pads it to this length, and the server drops a shorter
/// one. No reply is longer (an INTRODUCE between two IPv6 endpoints, with both NATs' mappings, is 56 octets, and a
/// REGISTER draws at most two), so a REGISTER forged from a victim's address makes the server
/// send the victim no more than the forger sent: the server amplifies nothing (as QUIC pads
/// its first packet, RFC 9000 section 8.1).
pub const MIN_REGISTER_LEN: usize = 128;

/// Byte offsets of the header fields (docs/protocol.md section 9.2).
mod field {
    use core::ops::Range;

    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const TYPE: usize = 3;
    pub const NONCE: Range<usize> = 4..12;
    pub const CRC: Range<usize> = 12..16;
}

/// The message types, as the Type octet carries them.
mod kind {
    pub const REGISTER: u8 = 1;
    pub const WAITING: u8 = 2;
    pub const INTRODUCE: u8 = 3;
    pub const REFUSED: u8 = 4;
    pub const RELAY: u8 = 5;
    pub const UNREGISTER: u8 = 6;
    pub const PROBE: u8 = 7;
    pub const KNOCK: u8 = 8;
}

/// Address family octets.
const FAMILY_V4: u8 = 4;
const FAMILY_V6: u8 = 6;

/// Whether `datagram` claims to be a rendezvous message (its first two octets are [`MAGIC`]),
/// rather than a Ferry segment. Only the magic is looked at: [`Message::parse`] checks the rest.
pub fn is_rendezvous(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && u16::from_be_bytes([datagram[0], datagram[1]]) == MAGIC
}

/// One rendezvous message: the nonce that ties it to one client's registration, and what it
/// says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The client's nonce: drawn at random when it starts, sent in each of its requests, and
    /// echoed in each reply, so that a reply sent by anyone who did not see the request is
    /// told apart (docs/protocol.md section 9.5).
    pub nonce: u64,
    /// What the message says.
    pub body: Body<'a>,
}

/// What a message says. REGISTER, RELAY (from a client) and UNREGISTER are a client's
/// requests; WAITING, INTRODUCE, REFUSED and RELAY (from the server) are the server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// "I am `name`, and I want to reach `peer`." Sent until answered, and again now and then
    /// to keep the registration alive.
    Register {
        /// The name this client registers.
        name: &'a str,
        /// The name of the peer it wants to reach.
        peer: &'a str,
        /// Whether PROBEs follow its REGISTERs once answered (bit 0 of the Flags octet after
        /// the names): the server then waits for one, at most
        /// [`PROBE_WAIT`](super::server::PROBE_WAIT), before it introduces the client.
        probing: bool,
        /// Whether the client reads the INTRODUCE's Mapping octets (bit 1 of the Flags
        /// octet): it names what blocks a direct path by them, and probes by the birthday
        /// paradox where they call for it and its driver can (docs/protocol.md section 9.4,
        /// "Birthday probing").
        reads_mappings: bool,
    },
    /// "Registered; the peer has not come yet. I see you at `observed`."
    Waiting {
        /// The client's address as the server saw it: its public endpoint.
        observed: SocketAddr,
    },
    /// "Your peer is at `peer`; I see you at `observed`." Connect to it now.
    Introduce {
        /// The client's address as the server saw it.
        observed: SocketAddr,
        /// The peer's address as the server saw it: where to send the SYNs.
        peer: SocketAddr,
        /// How the server saw each NAT map, from the ports of a REGISTER and of its PROBE:
        /// sent only to a client that reads them, once both are known (two octets after
        /// the addresses; absent otherwise).
        mappings: Option<Mappings>,
    },
    /// "I am here": a datagram of no content a peer sends to open its NAT's mapping (or its
    /// filter) toward the other, during birthday probing (docs/protocol.md section 9.4). The
    /// nonce is the sender's, which the receiver cannot check: a KNOCK is taken only from
    /// the peer's address, and only steers which of our sockets, or which of the peer's
    /// ports, the handshake then tries.
    Knock,
    /// "I will not register you", and why.
    Refused {
        /// Why.
        reason: Refusal,
    },
    /// A Ferry datagram carried through the server, between two peers it introduced: from a
    /// client, for its peer (with the sender's nonce); from the server, from the peer (with
    /// the receiver's nonce).
    Relay {
        /// The Ferry datagram.
        payload: &'a [u8],
    },
    /// "Forget my registration": the client connected directly, or is done.
    Unregister,
    /// "This is `name` again, from a second mapping": sent to the server's probe port (its
    /// port plus [`PROBE_PORT_OFFSET`]) on the first answer and after each REGISTER from then, never answered. A NAT
    /// that gives each destination a new port gives it the next one if it counts up, so
    /// the server learns the step between two consecutive mappings and predicts the one the
    /// peer's SYNs will get (docs/protocol.md section 9.4, "Port prediction").
    Probe {
        /// The name the client registered.
        name: &'a str,
    },
}

/// The Flags octet of a REGISTER: a PROBE follows.
const REGISTER_PROBING: u8 = 0x01;

/// The Flags octet of a REGISTER: the client reads the INTRODUCE's mappings.
const REGISTER_READS_MAPPINGS: u8 = 0x02;

/// How a NAT maps, as the server tells from the ports of a client's REGISTER and of the
/// PROBE right after it, to a second destination (RFC 4787 sections 4.1 and 4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mapping {
    /// No PROBE came (the client does not probe, or they were lost): not known.
    Unknown,
    /// The same port for both: endpoint-independent mapping (a cone NAT).
    Independent,
    /// A new port a small step away: a NAT that counts up (sequential assignment), whose
    /// next port the server predicts.
    Sequential,
    /// A new port a larger step away: random assignment, nothing to predict.
    Random,
}

impl Mapping {
    fn code(self) -> u8 {
        match self {
            Mapping::Unknown => 0,
            Mapping::Independent => 1,
            Mapping::Sequential => 2,
            Mapping::Random => 3,
        }
    }

    fn from_code(code: u8) -> Option<Mapping> {
        match code {
            0 => Some(Mapping::Unknown),
            1 => Some(Mapping::Independent),
            2 => Some(Mapping::Sequential),
            3 => Some(Mapping::Random),
            _ => None,
        }
    }

    /// Whether this NAT gives each destination a port of its own (RFC 4787's address- or
    /// address-and-port-dependent mapping, a "symmetric" NAT).
    pub fn per_destination(self) -> bool {
        matches!(self, Mapping::Sequential | Mapping::Random)
    }
}

/// Both NATs' mappings, as an INTRODUCE tells them to a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mappings {
    /// The receiving client's own NAT.
    pub yours: Mapping,
    /// Its peer's NAT.
    pub peers: Mapping,
}

/// How far above the server's port its probe port is: the next one.
pub const PROBE_PORT_OFFSET: u16 = 1;

/// Why the server refused a REGISTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Another client holds the name (until it has been quiet for the registration lifetime).
    NameTaken,
    /// Another registration, under another name or nonce, holds the address the REGISTER
    /// came from.
    AddressInUse,
    /// The server holds as many registrations as it may.
    Full,
}

impl Refusal {
    fn code(self) -> u8 {
        match self {
            Refusal::NameTaken => 1,
            Refusal::AddressInUse => 2,
            Refusal::Full => 3,
        }
    }

    fn from_code(code: u8) -> Option<Refusal> {
        match code {
            1 => Some(Refusal::NameTaken),
            2 => Some(Refusal::AddressInUse),
            3 => Some(Refusal::Full),
            _ => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NameTaken => "the name is taken",
            Refusal::AddressInUse => "another registration holds this address",
            Refusal::Full => "the rendezvous is full",
        })
    }
}

/// Why a datagram is not a valid rendezvous message. The checks run in this order (docs/
/// protocol.md section 9.2), and the first that fails is the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// Shorter than the header, or than a field its body needs.
    Truncated {
        /// The datagram's length.
        len: usize,
    },
    /// The first two octets are not [`MAGIC`].
    BadMagic {
        /// What they were.
        found: u16,
    },
    /// A version this module does not speak.
    UnsupportedVersion {
        /// The Version octet.
        found: u8,
    },
    /// The CRC-32 does not match.
    BadChecksum {
        /// The CRC the datagram carried.
        carried: u32,
        /// The CRC of what arrived.
        computed: u32,
    },
    /// A Type octet that names no message.
    UnknownType {
        /// The Type octet.
        found: u8,
    },
    /// A REGISTER shorter than [`MIN_REGISTER_LEN`].
    RegisterTooShort {
        /// Its length.
        len: usize,
    },
    /// A name that is empty, longer than [`MAX_NAME_LEN`], or not printable ASCII.
    BadName,
    /// An address family octet other than 4 or 6.
    UnknownAddressFamily {
        /// The octet.
        found: u8,
    },
    /// A REFUSED whose reason is unknown.
    UnknownRefusal {
        /// The reason octet.
        found: u8,
    },
    /// An INTRODUCE's mapping octet that names no mapping.
    UnknownMapping {
        /// The octet.
        found: u8,
    },
    /// Octets after the end of a body of fixed length.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MessageError::Truncated { len } => write!(f, "truncated: {len} octets"),
            MessageError::BadMagic { found } => write!(f, "bad magic 0x{found:04x}"),
            MessageError::UnsupportedVersion { found } => {
                write!(f, "unsupported rendezvous version {found}")
            }
            MessageError::BadChecksum { carried, computed } => write!(
                f,
                "bad CRC-32: carried 0x{carried:08x}, computed 0x{computed:08x}"
            ),
            MessageError::UnknownType { found } => write!(f, "unknown message type {found}"),
            MessageError::RegisterTooShort { len } => write!(
                f,
                "a REGISTER of {len} octets, under the {MIN_REGISTER_LEN} it must be padded to"
            ),
            MessageError::BadName => write!(
                f,
                "a name must be 1 to {MAX_NAME_LEN} octets of printable ASCII"
            ),
            MessageError::UnknownAddressFamily { found } => {
                write!(f, "unknown address family {found}")
            }
            MessageError::UnknownRefusal { found } => write!(f, "unknown refusal {found}"),
            MessageError::UnknownMapping { found } => write!(f, "unknown mapping {found}"),
            MessageError::TrailingBytes { extra } => {
                write!(f, "{extra} octets after the end of the message")
            }
        }
    }
}

impl std::error::Error for MessageError {}

/// Whether `name` may be registered: 1 to [`MAX_NAME_LEN`] octets of printable ASCII
/// (`!` to `~`: no spaces, no control characters, so a name prints as itself in any error
/// message or log).
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic())
}

/// Reads fields off the body in order, each length checked first.
struct Reader<'a> {
    datagram: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], MessageError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.datagram.len())
            .ok_or(MessageError::Truncated {
                len: self.datagram.len(),
            })?;
        let field = &self.datagram[self.at..end];
        self.at = end;
        Ok(field)
    }

    fn octet(&mut self) -> Result<u8, MessageError> {
        Ok(self.take(1)?[0])
    }

    fn name(&mut self) -> Result<&'a str, MessageError> {
        let len = usize::from(self.octet()?);
        let bytes = self.take(len)?;
        match core::str::from_utf8(bytes) {
            Ok(name) if valid_name(name) => Ok(name),
            _ => Err(MessageError::BadName),
        }
    }

    fn address(&mut self) -> Result<SocketAddr, MessageError> {
        let family = self.octet()?;
        let port = self.take(2)?;
        let port = u16::from_be_bytes([port[0], port[1]]);
        let ip = match family {
            FAMILY_V4 => {
                let octets: [u8; 4] = self.take(4)?.try_into().map_err(|_| self.truncated())?;
                IpAddr::V4(Ipv4Addr::from(octets))
            }
            FAMILY_V6 => {
                let octets: [u8; 16] = self.take(16)?.try_into().map_err(|_| self.truncated())?;
                IpAddr::V6(Ipv6Addr::from(octets))
            }
            found => return Err(MessageError::UnknownAddressFamily { found }),
        };
        Ok(SocketAddr::new(ip, port))
    }

    fn truncated(&self) -> MessageError {
        MessageError::Truncated {
            len: self.datagram.len(),
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.datagram[self.at..];
        self.at = self.datagram.len();
        rest
    }

    /// The body of fixed length ends here.
    fn end(&self) -> Result<(), MessageError> {
        match self.datagram.len() - self.at {
            0 => Ok(()),
            extra => Err(MessageError::TrailingBytes { extra }),
        }
    }
}

/// The CRC-32 of `datagram` with its CRC field taken as zero.
fn crc_of(datagram: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&datagram[..field::CRC.start]);
    hasher.update(&[0; 4]);
    hasher.update(&datagram[field::CRC.end..]);
    hasher.finalize()
}

fn emit_address(address: SocketAddr, out: &mut Vec<u8>) {
    match address.ip() {
        IpAddr::V4(ip) => {
            out.push(FAMILY_V4);
            out.extend_from_slice(&address.port().to_be_bytes());
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(FAMILY_V6);
            out.extend_from_slice(&address.port().to_be_bytes());
            out.extend_from_slice(&ip.octets());
        }
    }
}

fn emit_name(name: &str, out: &mut Vec<u8>) {
    // A name longer than a length octet can say is cut there; `valid_name` names are far
    // shorter, and the receiver rejects what is not valid.
    let bytes = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

impl<'a> Message<'a> {
    /// Validate `datagram` into a message: length, magic, version, CRC, type, then the body
    /// (docs/protocol.md section 9.2). The payload of a RELAY borrows from `datagram`.
    pub fn parse(datagram: &'a [u8]) -> Result<Message<'a>, MessageError> {
        let len = datagram.len();
        if len < HEADER_LEN {
            return Err(MessageError::Truncated { len });
        }
        let magic = u16::from_be_bytes([
            datagram[field::MAGIC.start],
            datagram[field::MAGIC.start + 1],
        ]);
        if magic != MAGIC {
            return Err(MessageError::BadMagic { found: magic });
        }
        if datagram[field::VERSION] != VERSION {
            return Err(MessageError::UnsupportedVersion {
                found: datagram[field::VERSION],
            });
        }
        let crc = &datagram[field::CRC];
        let carried = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc_of(datagram);
        if carried != computed {
            return Err(MessageError::BadChecksum { carried, computed });
        }
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&datagram[field::NONCE]);
        let nonce = u64::from_be_bytes(nonce);
        let mut reader = Reader {
            datagram,
            at: HEADER_LEN,
        };
        let body = match datagram[field::TYPE] {
            kind::REGISTER => {
                if len < MIN_REGISTER_LEN {
                    return Err(MessageError::RegisterTooShort { len });
                }
                let name = reader.name()?;
                let peer = reader.name()?;
                // The Flags octet, then padding, whatever it holds. (A sender of the first
                // form, without flags, padded with zeros: no flag set.)
                let rest = reader.rest();
                let flags = rest.first().copied().unwrap_or(0);
                Body::Register {
                    name,
                    peer,
                    probing: flags & REGISTER_PROBING != 0,
                    reads_mappings: flags & REGISTER_READS_MAPPINGS != 0,
                }
            }
            kind::WAITING => Body::Waiting {
                observed: reader.address()?,
            },
            kind::INTRODUCE => {
                let observed = reader.address()?;
                let peer = reader.address()?;
                // Two mapping octets, or nothing (docs/protocol.md section 9.2).
                let mappings = match reader.rest() {
                    [] => None,
                    &[yours, peers] => {
                        let mapping = |found| {
                            Mapping::from_code(found).ok_or(MessageError::UnknownMapping { found })
                        };
                        Some(Mappings {
                            yours: mapping(yours)?,
                            peers: mapping(peers)?,
                        })
                    }
                    extra => {
                        return Err(MessageError::TrailingBytes { extra: extra.len() });
                    }
                };
                Body::Introduce {
                    observed,
                    peer,
                    mappings,
                }
            }
            kind::REFUSED => {
                let code = reader.octet()?;
                Body::Refused {
                    reason: Refusal::from_code(code)
                        .ok_or(MessageError::UnknownRefusal { found: code })?,
                }
            }
            kind::RELAY => Body::Relay {
                payload: reader.rest(),
            },
            kind::UNREGISTER => Body::Unregister,
            kind::PROBE => Body::Probe {
                name: reader.name()?,
            },
            kind::KNOCK => Body::Knock,
            found => return Err(MessageError::UnknownType { found }),
        };
        reader.end()?;
        Ok(Message { nonce, body })
    }

    /// Append the message's bytes to `out`: a REGISTER padded to [`MIN_REGISTER_LEN`], and
    /// the CRC-32 last.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.push(VERSION);
        out.push(self.kind());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        match self.body {
            Body::Register {
                name,
                peer,
                probing,
                reads_mappings,
            } => {
                emit_name(name, out);
                emit_name(peer, out);
                let mut flags = 0;
                if probing {
                    flags |= REGISTER_PROBING;
                }
                if reads_mappings {
                    flags |= REGISTER_READS_MAPPINGS;
                }
                out.push(flags);
                let padded = start + MIN_REGISTER_LEN;
                if out.len() < padded {
                    out.resize(padded, 0);
                }
            }
            Body::Waiting { observed } => emit_address(observed, out),
            Body::Introduce {
                observed,
                peer,
                mappings,
            } => {
                emit_address(observed, out);
                emit_address(peer, out);
                if let Some(mappings) = mappings {
                    out.push(mappings.yours.code());
                    out.push(mappings.peers.code());
                }
            }
            Body::Refused { reason } => out.push(reason.code()),
            Body::Relay { payload } => out.extend_from_slice(payload),
            Body::Unregister => {}
            Body::Probe { name } => emit_name(name, out),
            Body::Knock => {}
        }
        let crc = crc_of(&out[start..]);
        out[start + field::CRC.start..start + field::CRC.end].copy_from_slice(&crc.to_be_bytes());
    }

    /// The message as a fresh datagram.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }

    fn kind(&self) -> u8 {
        match self.body {
            Body::Register { .. } => kind::REGISTER,
            Body::Waiting { .. } => kind::WAITING,
            Body::Introduce { .. } => kind::INTRODUCE,
            Body::Refused { .. } => kind::REFUSED,
            Body::Relay { .. } => kind::RELAY,
            Body::Unregister => kind::UNREGISTER,
            Body::Probe { .. } => kind::PROBE,
            Body::Knock => kind::KNOCK,
        }
    }
}

impl fmt::Display for Message<'_> {
    /// One line, as a capture or a log shows it: `REGISTER alice -> bob`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.body {
            Body::Register { name, peer, .. } => write!(f, "REGISTER {name} -> {peer}"),
            Body::Waiting { observed } => write!(f, "WAITING (you are {observed})"),
            Body::Introduce { observed, peer, .. } => {
                write!(f, "INTRODUCE peer {peer} (you are {observed})")
            }
            Body::Refused { reason } => write!(f, "REFUSED: {reason}"),
            Body::Relay { payload } => write!(f, "RELAY {} octets", payload.len()),
            Body::Unregister => f.write_str("UNREGISTER"),
            Body::Probe { name } => write!(f, "PROBE {name}"),
            Body::Knock => f.write_str("KNOCK"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn every_shape() -> Vec<Message<'static>> {
        let bodies = [
            Body::Register {
                name: "alice",
                peer: "bob",
                probing: true,
                reads_mappings: true,
            },
            Body::Waiting {
                observed: addr("203.0.113.4:4000"),
            },
            Body::Introduce {
                observed: addr("[2001:db8::1]:4000"),
                peer: addr("198.51.100.7:5000"),
                mappings: None,
            },
            Body::Introduce {
                observed: addr("203.0.113.4:4000"),
                peer: addr("198.51.100.7:5000"),
                mappings: Some(Mappings {
                    yours: Mapping::Independent,
                    peers: Mapping::Random,
                }),
            },
            Body::Refused {
                reason: Refusal::NameTaken,
            },
            Body::Relay {
                payload: b"FR\x02 a segment",
            },
            Body::Unregister,
            Body::Probe { name: "alice" },
            Body::Knock,
        ];
        bodies
            .into_iter()
            .map(|body| Message {
                nonce: 0xfeed_f00d_0123_4567,
                body,
            })
            .collect()
    }

    #[test]
    fn every_message_survives_a_round_trip() {
        for message in every_shape() {
            let bytes = message.to_bytes();
            assert!(is_rendezvous(&bytes));
            assert_eq!(Message::parse(&bytes), Ok(message), "{message}");
        }
    }

    #[test]
    fn a_register_is_padded_and_no_reply_is_longer() {
        let register = every_shape()[0].to_bytes();
        assert_eq!(register.len(), MIN_REGISTER_LEN);
        let longest_reply = Message {
            nonce: 1,
            body: Body::Introduce {
                observed: addr("[2001:db8::1]:4000"),
                peer: addr("[2001:db8::2]:5000"),
                mappings: Some(Mappings {
                    yours: Mapping::Random,
                    peers: Mapping::Independent,
                }),
            },
        }
        .to_bytes();
        assert_eq!(longest_reply.len(), 56);
        // A REGISTER draws at most two INTRODUCEs: less than it.
        assert!(2 * longest_reply.len() <= MIN_REGISTER_LEN);
        let mut short = register.clone();
        short.truncate(MIN_REGISTER_LEN - 1);
        let crc = crc_of(&short);
        short[field::CRC].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            Message::parse(&short),
            Err(MessageError::RegisterTooShort {
                len: MIN_REGISTER_LEN - 1
            })
        );
    }

    #[test]
    fn a_ferry_segment_is_not_a_rendezvous_message() {
        let mut segment = Vec::new();
        crate::wire::Segment::default().emit(&mut segment);
        assert!(!is_rendezvous(&segment));
        assert_eq!(
            Message::parse(&segment),
            Err(MessageError::BadMagic {
                found: crate::wire::MAGIC
            })
        );
    }

    /// `bytes` with the CRC set right, so that the checks after it are reached.
    fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
        let crc = crc_of(&bytes);
        bytes[field::CRC].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn each_malformation_is_its_own_error() {
        let waiting = every_shape()[1].to_bytes();
        assert_eq!(
            Message::parse(&waiting[..HEADER_LEN - 1]),
            Err(MessageError::Truncated {
                len: HEADER_LEN - 1
            })
        );
        let mut version = waiting.clone();
        version[field::VERSION] = 9;
        assert_eq!(
            Message::parse(&version),
            Err(MessageError::UnsupportedVersion { found: 9 })
        );
        let mut flipped = waiting.clone();
        flipped[HEADER_LEN] ^= 0x40;
        assert!(matches!(
            Message::parse(&flipped),
            Err(MessageError::BadChecksum { .. })
        ));
        let mut unknown = waiting.clone();
        unknown[field::TYPE] = 200;
        assert_eq!(
            Message::parse(&with_crc(unknown)),
            Err(MessageError::UnknownType { found: 200 })
        );
        let mut family = waiting.clone();
        family[HEADER_LEN] = 5;
        assert_eq!(
            Message::parse(&with_crc(family)),
            Err(MessageError::UnknownAddressFamily { found: 5 })
        );
        let cut = with_crc(waiting[..waiting.len() - 1].to_vec());
        assert_eq!(
            Message::parse(&cut),
            Err(MessageError::Truncated {
                len: waiting.len() - 1
            })
        );
        let mut longer = waiting.clone();
        longer.push(0);
        assert_eq!(
            Message::parse(&with_crc(longer)),
            Err(MessageError::TrailingBytes { extra: 1 })
        );
        let mut refusal = every_shape()[4].to_bytes();
        refusal[HEADER_LEN] = 77;
        assert_eq!(
            Message::parse(&with_crc(refusal)),
            Err(MessageError::UnknownRefusal { found: 77 })
        );
        // An INTRODUCE's mappings: two known octets, or none.
        let introduce = every_shape()[3].to_bytes();
        let mut mapping = introduce.clone();
        *mapping.last_mut().unwrap() = 9;
        assert_eq!(
            Message::parse(&with_crc(mapping)),
            Err(MessageError::UnknownMapping { found: 9 })
        );
        let mut three = introduce.clone();
        three.push(1);
        assert_eq!(
            Message::parse(&with_crc(three)),
            Err(MessageError::TrailingBytes { extra: 3 })
        );
        let one = with_crc(introduce[..introduce.len() - 1].to_vec());
        assert_eq!(
            Message::parse(&one),
            Err(MessageError::TrailingBytes { extra: 1 })
        );
        let mut name = every_shape()[0].to_bytes();
        name[HEADER_LEN + 1] = b' ';
        assert_eq!(Message::parse(&with_crc(name)), Err(MessageError::BadName));
        let mut long_name = every_shape()[0].to_bytes();
        long_name[HEADER_LEN] = 200;
        assert_eq!(
            Message::parse(&with_crc(long_name)),
            Err(MessageError::Truncated {
                len: MIN_REGISTER_LEN
            })
        );
    }

    #[test]
    fn names_are_short_printable_ascii() {
        assert!(valid_name("alice"));
        assert!(valid_name(&"x".repeat(MAX_NAME_LEN)));
        assert!(!valid_name(&"x".repeat(MAX_NAME_LEN + 1)));
        assert!(!valid_name(""));
        assert!(!valid_name("al ice"));
        assert!(!valid_name("alicé"));
        assert!(!valid_name("a\nb"));
    }
}
