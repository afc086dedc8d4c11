/**
 * CRC-32 (IEEE 802.3, the polynomial zlib, PNG and gzip use: reflected 0xEDB88320, initial and final
 * XOR 0xFFFFFFFF), table-driven. The compact container ends with it so that a damaged file is refused
 * before any of its lengths is trusted.
 */

let table: Uint32Array | null = null;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** The CRC-32 of `bytes` as an unsigned 32-bit number ("123456789" gives 0xCBF43926). */
export function crc32(bytes: Uint8Array): number {
  const t = crcTable();
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
