"""Channel code of the watermark payload: CRC-16 plus a rate-1/2 convolutional code.

payload (64 bits) ‖ CRC-16/CCITT of the payload (16 bits) ‖ 6 zero tail bits = 86 bits
→ constraint-length-7 convolutional code, generators 171/133 (octal, the NASA/802.11 code)
→ 172 coded bits.

Decoding is soft-decision Viterbi with the correlation metric: one real number per coded
bit, positive meaning 1, its magnitude the reliability. Because the code is linear and
the metric symmetric, sign-symmetric noise decodes to a uniformly random message, so the
CRC of a reading made from noise checks with probability exactly 2**-16.
"""

from __future__ import annotations

import binascii
from typing import Final

import numpy as np
from numpy.typing import NDArray

PAYLOAD_BITS: Final = 64
CRC_BITS: Final = 16
_K: Final = 7  # constraint length
_TAIL: Final = _K - 1
_GENERATORS: Final = (0o171, 0o133)
_STATES: Final = 1 << (_K - 1)
INFO_BITS: Final = PAYLOAD_BITS + CRC_BITS + _TAIL
CODED_BITS: Final = INFO_BITS * len(_GENERATORS)


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


# _OUT[reg, j]: output bit j for the 7-bit shift register ``reg`` (newest input bit = MSB).
_OUT: Final = np.array([[_parity(reg & g) for g in _GENERATORS] for reg in range(1 << _K)],
                       dtype=np.uint8)
# Trellis: state = the last 6 input bits (newest = MSB). Next state ns has two
# predecessors, (ns << 1) & 63 | b for b in {0, 1}, both reached with input bit ns >> 5.
_NS: Final = np.arange(_STATES)
_PRED: Final = np.stack([((_NS << 1) & (_STATES - 1)) | b for b in (0, 1)], axis=1)
_REG: Final = ((_NS >> (_K - 2)) << (_K - 1))[:, None] | _PRED
# Expected symbols (+1 for bit 1, -1 for bit 0) of each branch: (states, 2, outputs).
_SYM: Final = 2.0 * _OUT[_REG] - 1.0


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF)."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode(payload: bytes) -> NDArray[np.uint8]:
    """The 8-byte payload → its 172 coded bits (0/1)."""
    if len(payload) * 8 != PAYLOAD_BITS:
        raise ValueError(f"payload must be {PAYLOAD_BITS // 8} bytes, got {len(payload)}")
    message = payload + crc16(payload).to_bytes(2, "big")
    info = np.concatenate([np.unpackbits(np.frombuffer(message, np.uint8)),
                           np.zeros(_TAIL, np.uint8)])
    out = np.empty((INFO_BITS, len(_GENERATORS)), np.uint8)
    state = 0
    for t, bit in enumerate(info):
        reg = (int(bit) << (_K - 1)) | state
        out[t] = _OUT[reg]
        state = reg >> 1
    return out.reshape(-1)


def _viterbi(soft: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Soft values of the coded bits → the most likely info bits (tail included)."""
    y = soft.reshape(INFO_BITS, len(_GENERATORS))
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0  # the encoder starts in state 0
    choice = np.empty((INFO_BITS, _STATES), np.intp)
    for t in range(INFO_BITS):
        candidates = metric[_PRED] + _SYM @ y[t]  # (states, 2)
        choice[t] = np.argmax(candidates, axis=1)
        metric = candidates[_NS, choice[t]]
    bits = np.empty(INFO_BITS, np.uint8)
    state = 0  # the tail drives the encoder back to state 0
    for t in range(INFO_BITS - 1, -1, -1):
        bits[t] = state >> (_K - 2)
        state = int(_PRED[state, choice[t, state]])
    return bits


def decode(soft: NDArray[np.floating]) -> tuple[bytes | None, int]:
    """Soft coded bits (> 0 means 1) → (the payload if its CRC checks, else None; the
    number of coded bits whose hard decision the decoder overruled)."""
    y = np.asarray(soft, dtype=np.float64).reshape(-1)
    if y.size != CODED_BITS:
        raise ValueError(f"expected {CODED_BITS} soft values, got {y.size}")
    info = _viterbi(y)
    message = np.packbits(info[: PAYLOAD_BITS + CRC_BITS]).tobytes()
    payload, crc = message[: PAYLOAD_BITS // 8], int.from_bytes(message[-2:], "big")
    corrected = int(np.count_nonzero((y > 0) != encode(payload).astype(bool)))
    return (payload if crc16(payload) == crc else None), corrected
