//! Packet protection (docs/protocol.md section 10.3): after the handshake every segment's
//! payload is encrypted with ChaCha20-Poly1305 (RFC 8439) and its header, SACK blocks and
//! options are its associated data, so a receiver that opens it knows every field came from
//! the peer unaltered. The nonce is the segment's packet number, which counts the datagrams
//! an end protected under its key and is carried in the clear in the secure option, as QUIC
//! carries its packet number (RFC 9001 section 5.3): a retransmission, however the data is
//! cut again, is a new datagram with a new number, so no nonce is ever used twice. A number
//! already opened, or too far behind, is a replay ([`ReplayWindow`]).

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};

use super::replay::ReplayWindow;
use crate::wire::secure::CONNECTION_ID_LEN;
use crate::wire::secure::{associated_data, emit_with, payload_offset, write_checksum};
use crate::wire::{SecureOption, Segment};

/// Octets the AEAD adds to a payload: Poly1305's tag.
pub const TAG_LEN: usize = 16;

/// One connection's keys, one per direction as Noise's Split gives them, and its numbers.
pub(crate) struct Protection {
    seal_key: ChaCha20Poly1305,
    open_key: ChaCha20Poly1305,
    connection_id: [u8; CONNECTION_ID_LEN],
    next_packet_number: u64,
    replay: ReplayWindow,
}

/// RFC 8439 section 2.8's 96-bit nonce from a 64-bit counter, laid out as Noise lays its own
/// (section 5.1 of the Noise specification: 32 zero bits, then the counter).
fn nonce(packet_number: u64) -> Nonce {
    let mut nonce = [0; 12];
    nonce[4..].copy_from_slice(&packet_number.to_be_bytes());
    nonce.into()
}

/// The plain datagram inside a protected one numbered `packet_number`, under `key`, if it
/// authenticates: the same segment with the payload decrypted and no secure option.
fn decrypt(key: &ChaCha20Poly1305, datagram: &[u8], packet_number: u64) -> Option<Vec<u8>> {
    let outer = Segment::parse(datagram).ok()?;
    let text_len = outer.payload.len().checked_sub(TAG_LEN)?;
    let (text, tag) = outer.payload.split_at(text_len);
    let mut plain = text.to_vec();
    key.decrypt_in_place_detached(
        &nonce(packet_number),
        &associated_data(datagram),
        &mut plain,
        Tag::from_slice(tag),
    )
    .ok()?;
    let mut inner = Vec::with_capacity(outer.encoded_len());
    Segment {
        payload: &plain,
        ..outer
    }
    .emit(&mut inner);
    Some(inner)
}

impl Protection {
    pub(crate) fn new(
        seal_key: [u8; 32],
        open_key: [u8; 32],
        connection_id: [u8; CONNECTION_ID_LEN],
    ) -> Protection {
        Protection {
            seal_key: ChaCha20Poly1305::new(Key::from_slice(&seal_key)),
            open_key: ChaCha20Poly1305::new(Key::from_slice(&open_key)),
            connection_id,
            next_packet_number: 0,
            replay: ReplayWindow::default(),
        }
    }

    /// The datagram that carries `segment` protected, with the next packet number.
    pub(crate) fn seal(&mut self, segment: &Segment<'_>) -> Vec<u8> {
        let packet_number = self.next_packet_number;
        self.next_packet_number += 1;
        let mut payload = Vec::with_capacity(segment.payload.len() + TAG_LEN);
        payload.extend_from_slice(segment.payload);
        payload.extend_from_slice(&[0; TAG_LEN]);
        let mut datagram = emit_with(
            &Segment {
                payload: &payload,
                ..*segment
            },
            &SecureOption::Protection {
                connection_id: self.connection_id,
                packet_number,
            },
        );
        let associated = associated_data(&datagram);
        let start = payload_offset(&datagram);
        let (text, tag) = datagram[start..].split_at_mut(segment.payload.len());
        let computed = self
            .seal_key
            .encrypt_in_place_detached(&nonce(packet_number), &associated, text)
            .expect("a segment is far below ChaCha20-Poly1305's 256 GiB limit");
        tag.copy_from_slice(&computed);
        write_checksum(&mut datagram);
        datagram
    }

    /// The plain datagram inside a protected one numbered `packet_number`, if it is fresh and
    /// authenticates; `None` for a replay, a forgery or an alteration.
    pub(crate) fn open(&mut self, datagram: &[u8], packet_number: u64) -> Option<Vec<u8>> {
        if !self.replay.is_fresh(packet_number) {
            return None;
        }
        let inner = decrypt(&self.open_key, datagram, packet_number)?;
        self.replay.mark(packet_number);
        Some(inner)
    }

    /// The plain datagram inside a protected one this end `sent`, or received, for a capture:
    /// the replay window is neither asked nor moved.
    pub(crate) fn reveal(
        &self,
        datagram: &[u8],
        packet_number: u64,
        sent: bool,
    ) -> Option<Vec<u8>> {
        let key = if sent { &self.seal_key } else { &self.open_key };
        decrypt(key, datagram, packet_number)
    }

    /// The packet number the next protected datagram gets.
    pub(crate) fn next_packet_number(&self) -> u64 {
        self.next_packet_number
    }
}
