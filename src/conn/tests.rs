//! Segment-level tests of the state machine, in smoltcp's style.
