/**
 * ggml tensor types: elements per block and bytes per block, as in ggml's
 * type_traits (checked against ggml-common.h block structs). Quantized types
 * store `blockSize` values in `typeSize` bytes; ids 4, 5, 31–33 and 36–38 were
 * removed from ggml and are refused.
 */
export interface GgmlType {
  id: number;
  /** Lower-case name used as TensorInfo.dtype (f32/f16/bf16 use the common names). */
  dtype: string;
  blockSize: number;
  typeSize: number;
}

const TABLE: [number, string, number, number][] = [
  [0, 'float32', 1, 4],
  [1, 'float16', 1, 2],
  [2, 'q4_0', 32, 18],
  [3, 'q4_1', 32, 20],
  [6, 'q5_0', 32, 22],
  [7, 'q5_1', 32, 24],
  [8, 'q8_0', 32, 34],
  [9, 'q8_1', 32, 36],
  [10, 'q2_k', 256, 84],
  [11, 'q3_k', 256, 110],
  [12, 'q4_k', 256, 144],
  [13, 'q5_k', 256, 176],
  [14, 'q6_k', 256, 210],
  [15, 'q8_k', 256, 292],
  [16, 'iq2_xxs', 256, 66],
  [17, 'iq2_xs', 256, 74],
  [18, 'iq3_xxs', 256, 98],
  [19, 'iq1_s', 256, 50],
  [20, 'iq4_nl', 32, 18],
  [21, 'iq3_s', 256, 110],
  [22, 'iq2_s', 256, 82],
  [23, 'iq4_xs', 256, 136],
  [24, 'int8', 1, 1],
  [25, 'int16', 1, 2],
  [26, 'int32', 1, 4],
  [27, 'int64', 1, 8],
  [28, 'float64', 1, 8],
  [29, 'iq1_m', 256, 56],
  [30, 'bfloat16', 1, 2],
  [34, 'tq1_0', 256, 54],
  [35, 'tq2_0', 256, 66],
  // MXFP4 (gpt-oss): one shared E8M0 exponent byte + 16 bytes of 4-bit values per 32.
  [39, 'mxfp4', 32, 17],
];

export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map(
  TABLE.map(([id, dtype, blockSize, typeSize]) => [id, { id, dtype, blockSize, typeSize }]),
);

/** llama.cpp's `general.file_type` (llama_ftype) values, for the metadata summary. */
export const FILE_TYPES: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  7: 'Q8_0',
  8: 'Q5_0',
  9: 'Q5_1',
  10: 'Q2_K',
  11: 'Q3_K_S',
  12: 'Q3_K_M',
  13: 'Q3_K_L',
  14: 'Q4_K_S',
  15: 'Q4_K_M',
  16: 'Q5_K_S',
  17: 'Q5_K_M',
  18: 'Q6_K',
  19: 'IQ2_XXS',
  20: 'IQ2_XS',
  21: 'Q2_K_S',
  22: 'IQ3_XS',
  23: 'IQ3_XXS',
  24: 'IQ1_S',
  25: 'IQ4_NL',
  26: 'IQ3_S',
  27: 'IQ3_M',
  28: 'IQ2_S',
  29: 'IQ2_M',
  30: 'IQ4_XS',
  31: 'IQ1_M',
  32: 'BF16',
  36: 'TQ1_0',
  37: 'TQ2_0',
  38: 'MXFP4_MOE',
};
