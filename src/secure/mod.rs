//! The secure mode (docs/protocol.md section 10), sans-IO: a Noise handshake in the SYN and
//! SYN-ACK, then every segment protected, with a stateless reset for a server that lost its
//! keys. It sits between a connection and the wire, inside the endpoint: the connection
//! emits and takes plain segments as ever, and never knows.
//!
//! - `keys.rs`: a server's [`Identity`], the [`PublicKey`] a client pins, and the resolver
//!   that hands snow the endpoint's injected generator;
//! - this file: one connection's `Session`: the handshake's steps, and what each arriving
//!   datagram comes to (`Opened`);
//! - `protection.rs`: the AEAD over each segment, its packet numbers;
//! - `replay.rs`: the replay window over packet numbers;
//! - `reset.rs`: stateless reset tokens.
//!
//! `Session::reveal` gives a capture the plain segment and what crossed the wire.
//!
//! The handshake is Noise NX (X25519, ChaCha20-Poly1305, BLAKE2s) from the `snow` crate:
//!
//! ```text
//!   client                                            server
//!   SYN      [-> e]         payload: the SYN as sent        (hello)
//!   SYN-ACK  [<- e, ee, s, es]  payload, encrypted: connection id, reset token,
//!                               the SYN-ACK as sent          (key exchange + finished)
//!   ACK      protected: the client's first data may ride here, one round trip after the SYN
//! ```
//!
//! Each handshake message carries, as its Noise payload, the segment it rides in, so the
//! handshake's transcript covers both SYNs' headers: a field altered on the way makes the
//! client's reading of the SYN-ACK fail.

use std::net::SocketAddr;

use snow::{Builder, HandshakeState};

use crate::conn::ConnectionError;
use crate::wire::secure::{emit_with, CONNECTION_ID_LEN, RESET_TOKEN_LEN};
use crate::wire::{Flags, SecureOption, Segment, SeqNum};

mod keys;
mod protection;
mod replay;
mod reset;
#[cfg(test)]
mod tests;

use keys::{noise_params, InjectedResolver};
pub use keys::{Identity, KeyParseError, PublicKey, KEY_LEN, NOISE_PARAMS};
use protection::Protection;
pub use protection::TAG_LEN;
pub use replay::REPLAY_WINDOW;
pub(crate) use reset::reset_token;
use reset::tokens_match;

/// Octets of overhead that protection adds to a segment: the secure option (a word of
/// padding, kind, length and type, the connection id and the packet number: 20 octets) and
/// the tag.
pub const PROTECTION_OVERHEAD: usize = 20 + TAG_LEN;

/// An endpoint's secure mode ([`Endpoint::set_secure`](crate::endpoint::Endpoint::set_secure)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecureConfig {
    /// The server's identity: needed to accept secure connections (and to send stateless
    /// resets); a client-only endpoint has none.
    pub identity: Option<Identity>,
    /// The server key a client expects: a connection to a server that proves another fails
    /// with [`ConnectionError::ServerKeyMismatch`]. Without one, a client takes any key and
    /// [`Endpoint::peer_key`](crate::endpoint::Endpoint::peer_key) says which it was, for a
    /// known-hosts check (trust on first use) above the core.
    pub server_key: Option<PublicKey>,
}

impl SecureConfig {
    /// A server's: it proves `identity`.
    pub fn server(identity: Identity) -> SecureConfig {
        SecureConfig {
            identity: Some(identity),
            server_key: None,
        }
    }

    /// A client's: it expects `server_key`, or takes any key with `None`.
    pub fn client(server_key: Option<PublicKey>) -> SecureConfig {
        SecureConfig {
            identity: None,
            server_key,
        }
    }
}

/// What a capture shows of a secure connection's datagram (docs/protocol.md section 10.6):
/// the segment as the connection sent or took it, and a comment that says what crossed the
/// wire, so a student can count the handshake's round trips and read the data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revealed {
    /// The plain datagram: a protected segment decrypted, without its secure option; a
    /// handshake segment or stateless reset as it crossed (its header is in the clear).
    pub plain: Vec<u8>,
    /// What it was on the wire: which handshake step, or how it was encrypted.
    pub comment: String,
}

/// What an arriving datagram comes to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// This plain datagram is the connection's to take.
    Deliver(Vec<u8>),
    /// It fails the wire's checks: the connection counts it as it counts any.
    Invalid,
    /// Not authenticated (forged, altered, replayed, or unprotected where protection is due):
    /// dropped and counted, never delivered.
    Unauthenticated,
    /// The handshake cannot succeed: the connection fails with this error.
    Failed(ConnectionError),
    /// The server's stateless reset: the connection is reset.
    Reset,
}

/// One connection's secure state.
pub(crate) struct Session {
    phase: Phase,
    /// The server key a client expects, if any.
    expected_key: Option<PublicKey>,
}

impl std::fmt::Debug for Session {
    /// The step it is at; never a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match &self.phase {
            Phase::Start(_) => "start",
            Phase::AwaitingAnswer { .. } => "awaiting the SYN-ACK",
            Phase::Answering { .. } => "answering",
            Phase::Established(_) => "established",
            Phase::Done => "done",
        };
        f.debug_struct("Session").field("phase", &phase).finish()
    }
}

enum Phase {
    /// A client before its SYN went.
    Start(Box<HandshakeState>),
    /// A client whose SYN went: that datagram, to send again verbatim.
    AwaitingAnswer {
        handshake: Box<HandshakeState>,
        syn: Vec<u8>,
        syn_seq: SeqNum,
    },
    /// A server that read the client's SYN and writes its answer with the SYN-ACK.
    Answering {
        handshake: Box<HandshakeState>,
        received: Handshake,
        connection_id: [u8; CONNECTION_ID_LEN],
        reset_token: [u8; RESET_TOKEN_LEN],
    },
    /// Keys in hand.
    Established(Box<Established>),
    /// Failed, or between steps.
    Done,
}

/// A handshake datagram received, and the plain segment it stood for: the same datagram
/// again (the peer repeated it) stands for the same segment, for the connection to answer as
/// TCP answers a repeated SYN or SYN-ACK.
struct Handshake {
    datagram: Vec<u8>,
    segment: Vec<u8>,
}

struct Established {
    protection: Protection,
    /// The SYN-ACK a server sent, to send again verbatim when the connection repeats it.
    sent_syn_ack: Option<Vec<u8>>,
    received: Handshake,
    /// The token of the server's stateless reset (a client's).
    reset_token: Option<[u8; RESET_TOKEN_LEN]>,
    /// The server's proven key (a client's).
    server_key: Option<PublicKey>,
    /// A protected segment from the peer authenticated: the handshake is over for both, and
    /// no unprotected RST ends the connection any more.
    confirmed: bool,
}

fn is_syn(segment: &Segment<'_>) -> bool {
    segment.flags.contains(Flags::SYN) && !segment.flags.contains(Flags::ACK)
}

fn is_syn_ack(segment: &Segment<'_>) -> bool {
    segment.flags.contains(Flags::SYN | Flags::ACK)
}

/// Room for a handshake message's payload.
const HANDSHAKE_BUFFER: usize = 512;

impl Session {
    /// A client's, for the connection whose SYN is about to go; `seed` seeds its ephemeral
    /// key (from the endpoint's injected generator).
    pub(crate) fn initiate(seed: [u8; 32], expected_key: Option<PublicKey>) -> Session {
        let handshake = Builder::with_resolver(noise_params(), InjectedResolver::boxed(seed))
            .build_initiator()
            .expect("NX needs no key from the initiator");
        Session {
            phase: Phase::Start(Box::new(handshake)),
            expected_key,
        }
    }

    /// A server's, from the client's SYN (`datagram`, with the handshake `message`) from
    /// `peer`: the session and the plain SYN for the connection, or `None` if the message
    /// is not a valid first step.
    pub(crate) fn answer(
        identity: &Identity,
        seed: [u8; 32],
        connection_id: [u8; CONNECTION_ID_LEN],
        peer: SocketAddr,
        datagram: &[u8],
        message: &[u8],
    ) -> Option<(Session, Vec<u8>)> {
        let private = identity.private_key();
        let mut handshake = Builder::with_resolver(noise_params(), InjectedResolver::boxed(seed))
            .local_private_key(&private)
            .ok()?
            .build_responder()
            .ok()?;
        let mut payload = [0; HANDSHAKE_BUFFER];
        let len = handshake.read_message(message, &mut payload).ok()?;
        let segment = payload[..len].to_vec();
        if !Segment::parse(&segment).is_ok_and(|syn| is_syn(&syn)) {
            return None;
        }
        let received = Handshake {
            datagram: datagram.to_vec(),
            segment: segment.clone(),
        };
        let session = Session {
            phase: Phase::Answering {
                handshake: Box::new(handshake),
                received,
                connection_id,
                reset_token: reset_token(identity, peer, &connection_id),
            },
            expected_key: None,
        };
        Some((session, segment))
    }

    /// What a capture shows of `datagram`, which this end `sent` or received; `None` for a
    /// datagram of no secure step (plain, or not authentic).
    pub(crate) fn reveal(&self, datagram: &[u8], sent: bool) -> Option<Revealed> {
        let segment = Segment::parse(datagram).ok()?;
        let comment = match SecureOption::find(datagram)? {
            SecureOption::Handshake(message) if is_syn(&segment) => format!(
                "secure handshake 1 of 2, hello: Noise NX -> e (the client's ephemeral key), \
                 {} octets",
                message.len()
            ),
            SecureOption::Handshake(message) => format!(
                "secure handshake 2 of 2, key exchange and finished: Noise NX <- e, ee, s, es \
                 (the server's ephemeral and static keys; connection id and reset token \
                 encrypted), {} octets",
                message.len()
            ),
            SecureOption::Reset(_) => {
                "secure stateless reset: the server lost the connection's keys".to_string()
            }
            SecureOption::Protection { packet_number, .. } => {
                let Phase::Established(established) = &self.phase else {
                    return None;
                };
                let plain = established
                    .protection
                    .reveal(datagram, packet_number, sent)?;
                return Some(Revealed {
                    plain,
                    comment: format!(
                        "encrypted on the wire: ChaCha20-Poly1305, packet number {packet_number} \
                         (the nonce), header authenticated"
                    ),
                });
            }
        };
        Some(Revealed {
            plain: datagram.to_vec(),
            comment,
        })
    }

    /// The server's key, once a client's handshake proved it.
    pub(crate) fn server_key(&self) -> Option<PublicKey> {
        match &self.phase {
            Phase::Established(established) => established.server_key,
            _ => None,
        }
    }

    /// The packet number the next protected datagram gets, once there are keys.
    pub(crate) fn next_packet_number(&self) -> Option<u64> {
        match &self.phase {
            Phase::Established(established) => Some(established.protection.next_packet_number()),
            _ => None,
        }
    }

    /// The datagram that carries `plain`, a datagram the connection emitted.
    pub(crate) fn seal(&mut self, plain: Vec<u8>) -> Vec<u8> {
        let Ok(segment) = Segment::parse(&plain) else {
            return plain;
        };
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Start(mut handshake) if is_syn(&segment) => {
                let mut message = [0; HANDSHAKE_BUFFER];
                let len = handshake
                    .write_message(&plain, &mut message)
                    .expect("a SYN fits a Noise message");
                let syn = emit_with(&segment, &SecureOption::Handshake(&message[..len]));
                self.phase = Phase::AwaitingAnswer {
                    handshake,
                    syn: syn.clone(),
                    syn_seq: segment.seq,
                };
                syn
            }
            Phase::AwaitingAnswer {
                handshake,
                syn,
                syn_seq,
            } if is_syn(&segment) => {
                self.phase = Phase::AwaitingAnswer {
                    handshake,
                    syn: syn.clone(),
                    syn_seq,
                };
                syn
            }
            Phase::Answering {
                mut handshake,
                received,
                connection_id,
                reset_token,
            } if is_syn_ack(&segment) => {
                let mut payload = connection_id.to_vec();
                payload.extend_from_slice(&reset_token);
                payload.extend_from_slice(&plain);
                let mut message = [0; HANDSHAKE_BUFFER];
                let len = handshake
                    .write_message(&payload, &mut message)
                    .expect("a SYN-ACK fits a Noise message");
                let syn_ack = emit_with(&segment, &SecureOption::Handshake(&message[..len]));
                // Noise's Split: the first key protects what the initiator sends.
                let (to_server, to_client) = handshake.dangerously_get_raw_split();
                self.phase = Phase::Established(Box::new(Established {
                    protection: Protection::new(to_client, to_server, connection_id),
                    sent_syn_ack: Some(syn_ack.clone()),
                    received,
                    reset_token: None,
                    server_key: None,
                    confirmed: false,
                }));
                syn_ack
            }
            Phase::Established(mut established) => {
                let datagram = match &established.sent_syn_ack {
                    Some(syn_ack) if is_syn_ack(&segment) => syn_ack.clone(),
                    _ => established.protection.seal(&segment),
                };
                self.phase = Phase::Established(established);
                datagram
            }
            // Before there are keys only a RST can go (an abort during the handshake), and
            // it goes as it is: there is nothing to protect it with.
            phase => {
                self.phase = phase;
                plain
            }
        }
    }

    /// What `datagram`, from the peer, comes to.
    pub(crate) fn open(&mut self, datagram: &[u8]) -> Opened {
        let Ok(segment) = Segment::parse(datagram) else {
            return Opened::Invalid;
        };
        let option = SecureOption::find(datagram);
        if let Some(SecureOption::Handshake(message)) = option {
            if let Some(received) = self.received_handshake() {
                return if received.datagram == datagram {
                    Opened::Deliver(received.segment.clone())
                } else {
                    Opened::Unauthenticated
                };
            }
            if matches!(self.phase, Phase::AwaitingAnswer { .. }) && is_syn_ack(&segment) {
                return self.read_answer(datagram, message);
            }
            return Opened::Unauthenticated;
        }
        match (&mut self.phase, option) {
            (
                Phase::Established(established),
                Some(SecureOption::Protection { packet_number, .. }),
            ) => match established.protection.open(datagram, packet_number) {
                Some(plain) => {
                    established.confirmed = true;
                    Opened::Deliver(plain)
                }
                None => Opened::Unauthenticated,
            },
            (Phase::Established(established), Some(SecureOption::Reset(token))) => {
                match established.reset_token {
                    Some(expected) if tokens_match(&expected, &token) => Opened::Reset,
                    _ => Opened::Unauthenticated,
                }
            }
            (Phase::AwaitingAnswer { syn_seq, .. }, None) => {
                if is_syn_ack(&segment) && segment.ack == *syn_seq + 1 {
                    // The peer took the SYN and answered in the clear: it runs no secure
                    // mode. Never fall back to plaintext.
                    self.phase = Phase::Done;
                    Opened::Failed(ConnectionError::NotSecure)
                } else if segment.flags.contains(Flags::RST) {
                    // As in TCP and QUIC, nothing authenticates a refusal of the first
                    // flight; whoever could forge it could as well drop the SYN.
                    Opened::Deliver(datagram.to_vec())
                } else {
                    Opened::Unauthenticated
                }
            }
            (Phase::Answering { .. }, None) if segment.flags.contains(Flags::RST) => {
                Opened::Deliver(datagram.to_vec())
            }
            (Phase::Established(established), None)
                if !established.confirmed && segment.flags.contains(Flags::RST) =>
            {
                Opened::Deliver(datagram.to_vec())
            }
            _ => Opened::Unauthenticated,
        }
    }

    /// The handshake datagram this end took, once it took one.
    fn received_handshake(&self) -> Option<&Handshake> {
        match &self.phase {
            Phase::Answering { received, .. } => Some(received),
            Phase::Established(established) => Some(&established.received),
            _ => None,
        }
    }

    /// A client reads the server's SYN-ACK.
    fn read_answer(&mut self, datagram: &[u8], message: &[u8]) -> Opened {
        let Phase::AwaitingAnswer { handshake, .. } = &mut self.phase else {
            return Opened::Unauthenticated;
        };
        let mut payload = [0; HANDSHAKE_BUFFER];
        // A message that fails leaves the handshake as it was (snow restores it), so a
        // forgery costs nothing and the server's real answer can still follow.
        let Ok(len) = handshake.read_message(message, &mut payload) else {
            return Opened::Unauthenticated;
        };
        let proven = handshake
            .get_remote_static()
            .and_then(|key| <[u8; KEY_LEN]>::try_from(key).ok().map(PublicKey));
        if self.expected_key.is_some() && proven != self.expected_key {
            self.phase = Phase::Done;
            return Opened::Failed(ConnectionError::ServerKeyMismatch);
        }
        let payload = &payload[..len];
        let parts = payload
            .split_at_checked(CONNECTION_ID_LEN)
            .and_then(|(id, rest)| Some((id, rest.split_at_checked(RESET_TOKEN_LEN)?)));
        let Some((id, (token, segment))) = parts else {
            self.phase = Phase::Done;
            return Opened::Failed(ConnectionError::HandshakeFailed);
        };
        if !Segment::parse(segment).is_ok_and(|syn_ack| is_syn_ack(&syn_ack)) {
            self.phase = Phase::Done;
            return Opened::Failed(ConnectionError::HandshakeFailed);
        }
        let (to_server, to_client) = handshake.dangerously_get_raw_split();
        let connection_id = id.try_into().expect("split at its length");
        self.phase = Phase::Established(Box::new(Established {
            protection: Protection::new(to_server, to_client, connection_id),
            sent_syn_ack: None,
            received: Handshake {
                datagram: datagram.to_vec(),
                segment: segment.to_vec(),
            },
            reset_token: Some(token.try_into().expect("split at its length")),
            server_key: proven,
            // The server's message authenticated it; the client needs no more.
            confirmed: true,
        }));
        Opened::Deliver(segment.to_vec())
    }
}
