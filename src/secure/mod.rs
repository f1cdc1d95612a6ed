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
//! The handshake is Noise NX (X25519, AES-256-GCM, BLAKE2s) from the `snow` crate:
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
//!
//! With 0-RTT (a client that knows the server's key and has data to send at once, section
//! 10.7) the pattern is Noise NK instead: the SYN's message `-> e, es` is the SYN segment's
//! payload and carries, encrypted to the server's static key, the SYN and the early data;
//! the SYN-ACK's `<- e, ee` says whether the server took the data. The server's connection
//! takes the data as if the client's ACK had carried it, so its application reads it one
//! one-way delay after the client's connect, and answers at once.

use std::net::SocketAddr;

use snow::{Builder, HandshakeState};

use crate::conn::ConnectionError;
use crate::wire::secure::{
    emit_with, write_checksum, CONNECTION_ID_LEN, RESET_TOKEN_LEN, RETRY_TOKEN_LEN,
};
use crate::wire::{Flags, SecureOption, Segment, SeqNum};

mod keys;
mod protection;
mod replay;
mod reset;
mod retry;
#[cfg(test)]
mod tests;

use keys::{noise_params, noise_params_early, InjectedResolver};
pub use keys::{Identity, KeyParseError, PublicKey, KEY_LEN, NOISE_PARAMS, NOISE_PARAMS_EARLY};
use protection::Protection;
pub use protection::TAG_LEN;
pub use replay::REPLAY_WINDOW;
pub(crate) use reset::reset_token;
use reset::tokens_match;
pub(crate) use retry::RetryClaim;
pub use retry::RETRY_TOKEN_PERIOD;

/// Octets of overhead that protection adds to a segment: the secure option (a word of
/// padding, kind, length and type, the connection id and the packet number: 20 octets) and
/// the tag.
pub const PROTECTION_OVERHEAD: usize = 20 + TAG_LEN;

/// The most 0-RTT data a SYN carries: what fits one datagram of the default MSS beside the
/// SYN's header and the Noise message's key and tag. Data written beyond it goes after the
/// handshake.
pub const MAX_EARLY_DATA: usize = 1024;

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
    /// A server's: take no 0-RTT data (docs/protocol.md section 10.7). The data in a 0-RTT
    /// SYN is then dropped unread and the handshake goes on as 1-RTT; the client sends the
    /// data again after it, its application none the wiser.
    pub refuse_early_data: bool,
}

impl SecureConfig {
    /// A server's: it proves `identity`.
    pub fn server(identity: Identity) -> SecureConfig {
        SecureConfig {
            identity: Some(identity),
            server_key: None,
            refuse_early_data: false,
        }
    }

    /// A client's: it expects `server_key`, or takes any key with `None`.
    pub fn client(server_key: Option<PublicKey>) -> SecureConfig {
        SecureConfig {
            identity: None,
            server_key,
            refuse_early_data: false,
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
pub(crate) enum Opened<'a> {
    /// This plain datagram is the connection's to take.
    Deliver(Vec<u8>),
    /// This segment, protected on the wire and authenticated, is the connection's to take:
    /// its checksum was checked once, and the AEAD covers it all.
    Protected(Segment<'a>),
    /// It fails the wire's checks: the connection counts it as it counts any.
    Invalid,
    /// Not authenticated (forged, altered, replayed, or unprotected where protection is due):
    /// dropped and counted, never delivered.
    Unauthenticated,
    /// The handshake cannot succeed: the connection fails with this error.
    Failed(ConnectionError),
    /// The server's stateless reset: the connection is reset.
    Reset,
    /// A repeated 0-RTT SYN whose SYN-ACK was lost: send this datagram (that SYN-ACK) back;
    /// the connection, already past its handshake, never sees the SYN.
    Answer(Vec<u8>),
    /// A client's SYN was answered with a retry (docs/protocol.md section 10.8): send this
    /// datagram, the same SYN with the retry's token, now; the SYN's retransmissions carry
    /// the token too.
    Retried(Vec<u8>),
}

/// What became of a SYN's 0-RTT data at the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EarlyData {
    /// The SYN carried none.
    None,
    /// Taken: the connection gets it once the SYN-ACK has gone.
    Accepted,
    /// Dropped unread ([`SecureConfig::refuse_early_data`]).
    Refused,
}

/// One connection's secure state.
pub(crate) struct Session {
    phase: Phase,
    /// The server key a client expects, if any.
    expected_key: Option<PublicKey>,
    /// The handshake is 0-RTT's Noise NK, not NX.
    zero_rtt: bool,
    /// A client's 0-RTT data, until its SYN carries it.
    early_data: Vec<u8>,
    /// Octets of 0-RTT data a client's SYN carries.
    early_data_len: usize,
    /// Octets of a client's 0-RTT data the server took, once its SYN-ACK said so, until the
    /// endpoint tells the connection.
    early_data_taken: Option<usize>,
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
        /// A retry was taken: a client takes one per connect (RFC 9000 section 17.2.5.2).
        retried: bool,
    },
    /// A server that read the client's SYN and writes its answer with the SYN-ACK.
    Answering {
        handshake: Box<HandshakeState>,
        received: Handshake,
        connection_id: [u8; CONNECTION_ID_LEN],
        reset_token: [u8; RESET_TOKEN_LEN],
        /// What became of the SYN's 0-RTT data, and the data if taken.
        early_data: (EarlyData, Vec<u8>),
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
    /// A server's 0-RTT data, as the plain segment the connection takes, until the endpoint
    /// hands it over (right after the SYN-ACK is sealed).
    early_segment: Option<Vec<u8>>,
    /// A server that took 0-RTT data: its connection is past the handshake, so a repeated
    /// SYN (its SYN-ACK was lost) is answered here, with the SYN-ACK again.
    answers_repeated_syn: bool,
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
    ///
    /// With `early_data` and a server key to expect, the SYN carries that data (0-RTT, Noise
    /// NK); without a key there is nothing to encrypt it to, and the handshake is NX's.
    pub(crate) fn initiate(
        seed: [u8; 32],
        expected_key: Option<PublicKey>,
        early_data: &[u8],
    ) -> Session {
        let resolver = InjectedResolver::boxed(seed);
        let (handshake, early_data) = match expected_key {
            Some(key) if !early_data.is_empty() => {
                let handshake = Builder::with_resolver(noise_params_early(), resolver)
                    .remote_public_key(&key.0)
                    .and_then(Builder::build_initiator)
                    .expect("NK needs only the server's key from the initiator");
                (
                    handshake,
                    early_data[..early_data.len().min(MAX_EARLY_DATA)].to_vec(),
                )
            }
            _ => {
                let handshake = Builder::with_resolver(noise_params(), resolver)
                    .build_initiator()
                    .expect("NX needs no key from the initiator");
                (handshake, Vec::new())
            }
        };
        Session {
            phase: Phase::Start(Box::new(handshake)),
            expected_key,
            zero_rtt: !early_data.is_empty(),
            early_data_len: early_data.len(),
            early_data,
            early_data_taken: None,
        }
    }

    /// A server's, from the client's SYN (`datagram`, with the handshake `message`, a 0-RTT
    /// one if `zero_rtt`) from `peer`: the session, the plain SYN for the connection and what
    /// became of 0-RTT data (`refuse_early_data`: dropped unread), or `None` if the message
    /// is not a valid first step.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn answer(
        identity: &Identity,
        seed: [u8; 32],
        connection_id: [u8; CONNECTION_ID_LEN],
        peer: SocketAddr,
        datagram: &[u8],
        message: &[u8],
        zero_rtt: bool,
        refuse_early_data: bool,
    ) -> Option<(Session, Vec<u8>, EarlyData)> {
        let private = identity.private_key();
        let params = if zero_rtt {
            noise_params_early()
        } else {
            noise_params()
        };
        let mut handshake = Builder::with_resolver(params, InjectedResolver::boxed(seed))
            .local_private_key(&private)
            .ok()?
            .build_responder()
            .ok()?;
        let mut payload = vec![0; message.len()];
        let len = handshake.read_message(message, &mut payload).ok()?;
        let (segment, early_data) = if zero_rtt {
            split_early_payload(&payload[..len])?
        } else {
            (&payload[..len], &[][..])
        };
        let segment = segment.to_vec();
        if !Segment::parse(&segment).is_ok_and(|syn| is_syn(&syn)) {
            return None;
        }
        let early_data = match (early_data.is_empty(), refuse_early_data) {
            (true, _) => (EarlyData::None, Vec::new()),
            (false, true) => (EarlyData::Refused, Vec::new()),
            (false, false) => (EarlyData::Accepted, early_data.to_vec()),
        };
        let status = early_data.0;
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
                early_data,
            },
            expected_key: None,
            zero_rtt,
            early_data: Vec::new(),
            early_data_len: 0,
            early_data_taken: None,
        };
        Some((session, segment, status))
    }

    /// A client's 0-RTT data the server took, once its SYN-ACK said so: the connection
    /// must count it sent and acknowledged. Taken once.
    pub(crate) fn take_early_data_taken(&mut self) -> Option<usize> {
        self.early_data_taken.take()
    }

    /// A server's 0-RTT data, as the plain segment its connection takes, once the SYN-ACK
    /// has been sealed. Taken once.
    pub(crate) fn take_early_segment(&mut self) -> Option<Vec<u8>> {
        match &mut self.phase {
            Phase::Established(established) => established.early_segment.take(),
            _ => None,
        }
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
            SecureOption::EarlyHandshake => format!(
                "secure handshake 1 of 2, hello with 0-RTT data: Noise NK -> e, es (the \
                 client's ephemeral key; the SYN and its early data encrypted to the server's \
                 static key), {} octets",
                segment.payload.len()
            ),
            SecureOption::Handshake(message) if self.zero_rtt => format!(
                "secure handshake 2 of 2, key exchange and finished: Noise NK <- e, ee (the \
                 server's ephemeral key; connection id, reset token and whether it took the \
                 0-RTT data encrypted), {} octets",
                message.len()
            ),
            SecureOption::Handshake(message) => format!(
                "secure handshake 2 of 2, key exchange and finished: Noise NX <- e, ee, s, es \
                 (the server's ephemeral and static keys; connection id and reset token \
                 encrypted), {} octets",
                message.len()
            ),
            SecureOption::TokenHandshake { message, .. } => format!(
                "secure handshake 1 of 2, hello again with the retry's address validation \
                 token: Noise NX -> e (the client's ephemeral key), {} octets",
                message.len()
            ),
            SecureOption::TokenEarlyHandshake(_) => format!(
                "secure handshake 1 of 2, hello with 0-RTT data again with the retry's \
                 address validation token: Noise NK -> e, es, {} octets",
                segment.payload.len()
            ),
            SecureOption::Retry(_) => "secure retry: the listener kept nothing and asks for the \
                 hello again with this address validation token"
                .to_string(),
            SecureOption::Reset(_) => {
                "secure stateless reset: the server lost the connection's keys".to_string()
            }
            SecureOption::UnreadableEarlyHandshake => "secure refusal: the server cannot read \
                 the 0-RTT hello, encrypted to a key that is not its own"
                .to_string(),
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
                        "encrypted on the wire: AES-256-GCM, packet number {packet_number} \
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

    /// The datagram that carries `plain`, a datagram the connection emitted, its checksum
    /// left to this session ([`Connection::leave_checksum_to_sealer`]).
    ///
    /// [`Connection::leave_checksum_to_sealer`]: crate::conn::Connection::leave_checksum_to_sealer
    pub(crate) fn seal(&mut self, mut plain: Vec<u8>) -> Vec<u8> {
        let Ok(segment) = Segment::parse_without_checksum(&plain) else {
            return plain;
        };
        if let Phase::Established(established) = &mut self.phase {
            let repeats_syn_ack = established.sent_syn_ack.is_some() && is_syn_ack(&segment);
            if !repeats_syn_ack {
                // The common case, every segment after the handshake: sealed in its own
                // buffer, checksummed once.
                return established.protection.seal(plain);
            }
        }
        // A segment of the handshake, or one that goes as it is: checksummed now, as the
        // Noise payload carries it whole and the peer checks it (section 10.2).
        write_checksum(&mut plain);
        let Ok(segment) = Segment::parse(&plain) else {
            return plain;
        };
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Start(mut handshake) if is_syn(&segment) => {
                let syn = if self.zero_rtt {
                    // The SYN's own length first, so the server can tell it from the data.
                    let syn_len = u16::try_from(plain.len()).expect("a SYN is short");
                    let mut payload = syn_len.to_be_bytes().to_vec();
                    payload.extend_from_slice(&plain);
                    payload.extend_from_slice(&std::mem::take(&mut self.early_data));
                    let mut message = vec![0; payload.len() + HANDSHAKE_BUFFER];
                    let len = handshake
                        .write_message(&payload, &mut message)
                        .expect("0-RTT data of at most MAX_EARLY_DATA fits a Noise message");
                    let carrier = Segment {
                        payload: &message[..len],
                        ..segment
                    };
                    emit_with(&carrier, &SecureOption::EarlyHandshake)
                } else {
                    let mut message = [0; HANDSHAKE_BUFFER];
                    let len = handshake
                        .write_message(&plain, &mut message)
                        .expect("a SYN fits a Noise message");
                    emit_with(&segment, &SecureOption::Handshake(&message[..len]))
                };
                self.phase = Phase::AwaitingAnswer {
                    handshake,
                    syn: syn.clone(),
                    syn_seq: segment.seq,
                    retried: false,
                };
                syn
            }
            Phase::AwaitingAnswer {
                handshake,
                syn,
                syn_seq,
                retried,
            } if is_syn(&segment) => {
                self.phase = Phase::AwaitingAnswer {
                    handshake,
                    syn: syn.clone(),
                    syn_seq,
                    retried,
                };
                syn
            }
            Phase::Answering {
                mut handshake,
                received,
                connection_id,
                reset_token,
                early_data: (status, early_data),
            } if is_syn_ack(&segment) => {
                let mut payload = connection_id.to_vec();
                payload.extend_from_slice(&reset_token);
                if self.zero_rtt {
                    payload.push(u8::from(status == EarlyData::Accepted));
                }
                payload.extend_from_slice(&plain);
                let mut message = [0; HANDSHAKE_BUFFER];
                let len = handshake
                    .write_message(&payload, &mut message)
                    .expect("a SYN-ACK fits a Noise message");
                let syn_ack = emit_with(&segment, &SecureOption::Handshake(&message[..len]));
                // Noise's Split: the first key protects what the initiator sends.
                let (to_server, to_client) = handshake.dangerously_get_raw_split();
                let early_segment = (status == EarlyData::Accepted)
                    .then(|| early_data_segment(&segment, &received.segment, &early_data))
                    .flatten();
                self.phase = Phase::Established(Box::new(Established {
                    protection: Protection::new(to_client, to_server, connection_id),
                    sent_syn_ack: Some(syn_ack.clone()),
                    received,
                    reset_token: None,
                    server_key: None,
                    confirmed: false,
                    answers_repeated_syn: early_segment.is_some(),
                    early_segment,
                }));
                syn_ack
            }
            Phase::Established(established) => {
                // A SYN-ACK again (the ones sealed above never come here): the one that
                // went, byte for byte, as its handshake message cannot be written twice.
                let datagram = established.sent_syn_ack.clone().unwrap_or(plain);
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

    /// What `datagram`, from the peer, comes to. A protected segment's payload is decrypted
    /// into `opened`, a buffer the endpoint reuses for every datagram.
    pub(crate) fn open<'a>(&mut self, datagram: &[u8], opened: &'a mut Vec<u8>) -> Opened<'a> {
        let Ok(segment) = Segment::parse(datagram) else {
            return Opened::Invalid;
        };
        let option = SecureOption::find(datagram);
        let message = match option {
            Some(
                SecureOption::Handshake(message) | SecureOption::TokenHandshake { message, .. },
            ) => Some(message),
            Some(SecureOption::EarlyHandshake | SecureOption::TokenEarlyHandshake(_)) => {
                Some(segment.payload)
            }
            _ => None,
        };
        if let Some(message) = message {
            if let Some(received) = self.received_handshake() {
                if received.datagram != datagram {
                    return Opened::Unauthenticated;
                }
                if let Phase::Established(established) = &self.phase {
                    if let (true, Some(syn_ack)) =
                        (established.answers_repeated_syn, &established.sent_syn_ack)
                    {
                        return Opened::Answer(syn_ack.clone());
                    }
                }
                return Opened::Deliver(received.segment.clone());
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
            ) => match established
                .protection
                .open(datagram, &segment, packet_number, opened)
            {
                Some(segment) => {
                    established.confirmed = true;
                    Opened::Protected(segment)
                }
                None => Opened::Unauthenticated,
            },
            (Phase::Established(established), Some(SecureOption::Reset(token))) => {
                match established.reset_token {
                    Some(expected) if tokens_match(&expected, &token) => Opened::Reset,
                    _ => Opened::Unauthenticated,
                }
            }
            (Phase::AwaitingAnswer { syn, .. }, Some(SecureOption::UnreadableEarlyHandshake))
                if self.zero_rtt
                    && segment.flags.contains(Flags::RST)
                    && answers_syn(&segment, syn) =>
            {
                // The server could not read the SYN's message, encrypted to the key this
                // client expects: it holds another. As unauthenticated as any RST to a SYN
                // (whoever could forge it could drop the SYN), and as final.
                self.phase = Phase::Done;
                Opened::Failed(ConnectionError::ServerKeyMismatch)
            }
            (
                Phase::AwaitingAnswer {
                    syn,
                    syn_seq,
                    retried,
                    ..
                },
                Some(SecureOption::Retry(token)),
            ) if segment.flags == Flags::ACK && segment.ack == *syn_seq + 1 && !*retried => {
                // The listener keeps nothing until this client shows it receives at its
                // address: the same SYN again, the same Noise message, with the token beside
                // it (outside the transcript: a changed token only fails the listener's check).
                match with_retry_token(syn, token) {
                    Some(again) => {
                        *syn = again.clone();
                        *retried = true;
                        Opened::Retried(again)
                    }
                    None => Opened::Unauthenticated,
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
    fn read_answer(&mut self, datagram: &[u8], message: &[u8]) -> Opened<'static> {
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
        let segment = if self.zero_rtt {
            let Some((&taken, segment)) = segment.split_first() else {
                self.phase = Phase::Done;
                return Opened::Failed(ConnectionError::HandshakeFailed);
            };
            if taken == 1 {
                self.early_data_taken = Some(self.early_data_len);
            }
            segment
        } else {
            segment
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
            early_segment: None,
            answers_repeated_syn: false,
        }));
        Opened::Deliver(segment.to_vec())
    }
}

/// `syn`, a client's secure SYN datagram, with `token` beside its Noise message.
fn with_retry_token(syn: &[u8], token: [u8; RETRY_TOKEN_LEN]) -> Option<Vec<u8>> {
    let segment = Segment::parse(syn).ok()?;
    let option = match SecureOption::find(syn)? {
        SecureOption::Handshake(message) | SecureOption::TokenHandshake { message, .. } => {
            SecureOption::TokenHandshake { token, message }
        }
        SecureOption::EarlyHandshake | SecureOption::TokenEarlyHandshake(_) => {
            SecureOption::TokenEarlyHandshake(token)
        }
        _ => return None,
    };
    Some(emit_with(&segment, &option))
}

/// Whether `reset` acknowledges all of `syn`, the datagram a client's SYN went in, as a RST in
/// answer to it does (RFC 9293 section 3.10.7.1).
fn answers_syn(reset: &Segment<'_>, syn: &[u8]) -> bool {
    Segment::parse(syn)
        .is_ok_and(|syn| reset.flags.contains(Flags::ACK) && reset.ack == syn.seq + syn.seq_len())
}

/// A 0-RTT SYN's Noise payload: the SYN, led by its length in two octets, then the data.
fn split_early_payload(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = payload.split_at_checked(2)?;
    let len = usize::from(u16::from_be_bytes(len.try_into().ok()?));
    rest.split_at_checked(len)
}

/// The segment a server's connection takes for the 0-RTT data `early_data`, once its
/// `syn_ack` has gone in answer to `syn` (plain): the data at the sequence number after the
/// client's SYN, acknowledging the SYN-ACK, as the client's ACK would have carried it. The
/// handshake's proof stands in for that ACK: only the holder of the client's ephemeral key
/// could have sent the data with that SYN (replays aside, docs/protocol.md section 10.7).
fn early_data_segment(syn_ack: &Segment<'_>, syn: &[u8], early_data: &[u8]) -> Option<Vec<u8>> {
    let syn = Segment::parse(syn).ok()?;
    let segment = Segment {
        flags: Flags::ACK,
        seq: syn.seq + 1,
        ack: syn_ack.seq + 1,
        window: syn.window,
        payload: early_data,
        ..Segment::default()
    };
    let mut datagram = Vec::with_capacity(segment.encoded_len());
    segment.emit(&mut datagram);
    Some(datagram)
}
