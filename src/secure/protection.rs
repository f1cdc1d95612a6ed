//! Packet protection (docs/protocol.md section 10.3): after the handshake every segment's
//! payload is encrypted with AES-256-GCM (NIST SP 800-38D; RFC 5116's AEAD_AES_256_GCM, from
//! ring) and
//! its header, SACK blocks and options are its associated data, so a receiver that opens it
//! knows every field came from the peer unaltered. The nonce is the segment's packet number,
//! which counts the datagrams an end protected under its key and is carried in the clear in
//! the secure option, as QUIC carries its packet number (RFC 9001 section 5.3): a
//! retransmission, however the data is cut again, is a new datagram with a new number, so no
//! nonce is ever used twice. A number already opened, or too far behind, is a replay
//! ([`ReplayWindow`]).
//!
//! Each datagram is encrypted and decrypted in place in the one buffer that carries it out:
//! the AEAD is most of what the secure mode costs (docs/performance.md), and a copy, an
//! allocation or a checksum pass more per segment would show beside it.

use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};

use super::replay::ReplayWindow;
use crate::wire::secure::CONNECTION_ID_LEN;
use crate::wire::secure::{associated_data, payload_offset, write_checksum};
use crate::wire::{SecureOption, Segment};

/// Octets the AEAD adds to a payload: GCM's tag.
pub const TAG_LEN: usize = 16;

/// One connection's keys, one per direction as Noise's Split gives them, and its numbers.
pub(crate) struct Protection {
    seal_key: LessSafeKey,
    open_key: LessSafeKey,
    connection_id: [u8; CONNECTION_ID_LEN],
    next_packet_number: u64,
    replay: ReplayWindow,
}

/// The 96-bit nonce from a 64-bit counter, laid out as Noise lays its own for AES-GCM
/// (section 12.4 of the Noise specification: 32 zero bits, then the counter, big endian).
/// Unique under its key: a packet number is used once ([`Protection::seal`]).
fn nonce(packet_number: u64) -> Nonce {
    let mut nonce = [0; 12];
    nonce[4..].copy_from_slice(&packet_number.to_be_bytes());
    Nonce::assume_unique_for_key(nonce)
}

/// An AES-256-GCM key from the 32 octets Noise's Split gives.
fn aead_key(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("AES-256 takes a 32-octet key"))
}

/// The plain datagram inside a protected one, `outer` as [`Segment::parse`] read it from
/// `datagram`, numbered `packet_number`, under `key`, if it authenticates: the same segment
/// with the payload decrypted and no secure option.
fn decrypt(
    key: &LessSafeKey,
    datagram: &[u8],
    outer: &Segment<'_>,
    packet_number: u64,
) -> Option<Vec<u8>> {
    let text_len = outer.payload.len().checked_sub(TAG_LEN)?;
    let (text, tag) = outer.payload.split_at(text_len);
    // The inner datagram with the ciphertext where its payload goes, decrypted there.
    let mut inner = Vec::with_capacity(outer.encoded_len());
    Segment {
        payload: text,
        ..*outer
    }
    .emit_frame(&[], 0, &mut inner);
    let start = payload_offset(&inner);
    key.open_in_place_separate_tag(
        nonce(packet_number),
        Aad::from(associated_data(datagram)),
        Tag::try_from(tag).ok()?,
        &mut inner[start..],
        0..,
    )
    .ok()?;
    write_checksum(&mut inner);
    Some(inner)
}

impl Protection {
    pub(crate) fn new(
        seal_key: [u8; 32],
        open_key: [u8; 32],
        connection_id: [u8; CONNECTION_ID_LEN],
    ) -> Protection {
        Protection {
            seal_key: aead_key(&seal_key),
            open_key: aead_key(&open_key),
            connection_id,
            next_packet_number: 0,
            replay: ReplayWindow::default(),
        }
    }

    /// The datagram that carries `segment` protected, with the next packet number.
    pub(crate) fn seal(&mut self, segment: &Segment<'_>) -> Vec<u8> {
        let packet_number = self.next_packet_number;
        self.next_packet_number += 1;
        let option = SecureOption::Protection {
            connection_id: self.connection_id,
            packet_number,
        };
        // The checksum stays zero until the end: it is zero in the associated data.
        let mut datagram = Vec::new();
        segment.emit_frame(&option.encode(), TAG_LEN, &mut datagram);
        let start = payload_offset(&datagram);
        let (associated, payload) = datagram.split_at_mut(start);
        let (text, tag) = payload.split_at_mut(segment.payload.len());
        let computed = self
            .seal_key
            .seal_in_place_separate_tag(nonce(packet_number), Aad::from(associated), text)
            .expect("a segment is far below AES-GCM's 64 GiB limit");
        tag.copy_from_slice(computed.as_ref());
        write_checksum(&mut datagram);
        datagram
    }

    /// The plain datagram inside a protected one numbered `packet_number`, if it is fresh and
    /// authenticates; `None` for a replay, a forgery or an alteration.
    /// `outer` is the datagram as [`Segment::parse`] read it.
    pub(crate) fn open(
        &mut self,
        datagram: &[u8],
        outer: &Segment<'_>,
        packet_number: u64,
    ) -> Option<Vec<u8>> {
        if !self.replay.is_fresh(packet_number) {
            return None;
        }
        let inner = decrypt(&self.open_key, datagram, outer, packet_number)?;
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
        decrypt(
            key,
            datagram,
            &Segment::parse(datagram).ok()?,
            packet_number,
        )
    }

    /// The packet number the next protected datagram gets.
    pub(crate) fn next_packet_number(&self) -> u64 {
        self.next_packet_number
    }
}
