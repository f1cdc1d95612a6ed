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
use crate::conn::encode;
use crate::wire::secure::CONNECTION_ID_LEN;
use crate::wire::secure::{
    frame_in_place, payload_offset, protection_option, write_checksum, zero_checksum,
};
use crate::wire::Segment;

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

/// Decrypt the protected `datagram` (one [`Segment::parse`] accepted), numbered
/// `packet_number`, under `key`, into `opened`, if it authenticates: `opened` then holds its
/// octets before the payload, the checksum zero (the associated data), and the payload
/// decrypted, which starts at the offset returned. The datagram is copied once, into a
/// buffer the caller reuses: nothing is allocated once it has grown to the datagrams' size.
fn decrypt_into(
    key: &LessSafeKey,
    datagram: &[u8],
    packet_number: u64,
    opened: &mut Vec<u8>,
) -> Option<usize> {
    let start = payload_offset(datagram);
    let text_end = datagram
        .len()
        .checked_sub(TAG_LEN)
        .filter(|&end| end >= start)?;
    let tag = Tag::try_from(datagram.get(text_end..)?).ok()?;
    opened.clear();
    opened.extend_from_slice(datagram.get(..text_end)?);
    zero_checksum(opened);
    let (associated, text) = opened.split_at_mut(start);
    key.open_in_place_separate_tag(
        nonce(packet_number),
        Aad::from(&*associated),
        tag,
        text,
        0..,
    )
    .ok()?;
    Some(start)
}

/// `outer`, the protected segment as it crossed the wire, with `payload` (its payload
/// decrypted) in place of its ciphertext: the segment the peer's connection sent. Its secure
/// option is gone with the parse, which keeps only the options a connection reads.
fn with_payload<'a>(outer: &Segment<'_>, payload: &'a [u8]) -> Segment<'a> {
    Segment {
        flags: outer.flags,
        seq: outer.seq,
        ack: outer.ack,
        window: outer.window,
        sack: outer.sack,
        options: outer.options,
        payload,
    }
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

    /// `plain`, a valid datagram its connection emitted (its checksum not read), protected
    /// with the next packet number, in its own buffer: the secure option goes in after its
    /// options, its payload is encrypted where it lies, the tag follows it, and the checksum
    /// is written once, last, over what crosses the wire.
    pub(crate) fn seal(&mut self, mut plain: Vec<u8>) -> Vec<u8> {
        let packet_number = self.next_packet_number;
        self.next_packet_number += 1;
        let option = protection_option(&self.connection_id, packet_number);
        // The checksum is zero in the frame: it is zero in the associated data.
        let start = frame_in_place(&mut plain, &option, TAG_LEN);
        let text_end = plain.len() - TAG_LEN;
        let (associated, payload) = plain.split_at_mut(start);
        let (text, tag) = payload.split_at_mut(text_end - start);
        let computed = self
            .seal_key
            .seal_in_place_separate_tag(nonce(packet_number), Aad::from(&*associated), text)
            .expect("a segment is far below AES-GCM's 64 GiB limit");
        tag.copy_from_slice(computed.as_ref());
        write_checksum(&mut plain);
        plain
    }

    /// The segment inside a protected datagram numbered `packet_number`, if it is fresh and
    /// authenticates, its payload decrypted into `opened` (reused from one datagram to the
    /// next); `None` for a replay, a forgery or an alteration. `outer` is the datagram as
    /// [`Segment::parse`] read it: its checksum was checked there, once, and the AEAD's tag
    /// covers the rest, so the segment goes to the connection as it is, never parsed again.
    pub(crate) fn open<'a>(
        &mut self,
        datagram: &[u8],
        outer: &Segment<'_>,
        packet_number: u64,
        opened: &'a mut Vec<u8>,
    ) -> Option<Segment<'a>> {
        if !self.replay.is_fresh(packet_number) {
            return None;
        }
        let start = decrypt_into(&self.open_key, datagram, packet_number, opened)?;
        self.replay.mark(packet_number);
        Some(with_payload(outer, &opened[start..]))
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
        let outer = Segment::parse(datagram).ok()?;
        let mut opened = Vec::new();
        let start = decrypt_into(key, datagram, packet_number, &mut opened)?;
        Some(encode(&with_payload(&outer, &opened[start..])))
    }

    /// The packet number the next protected datagram gets.
    pub(crate) fn next_packet_number(&self) -> u64 {
        self.next_packet_number
    }
}
