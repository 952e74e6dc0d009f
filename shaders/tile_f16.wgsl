// The tiled matmul's workgroup tiles in f16 (needs `shader-f16`): half the
// workgroup memory and twice the arithmetic rate on most GPUs; products of
// four are summed in f16, everything longer in f32.
enable f16;
alias tile_t = f16;
