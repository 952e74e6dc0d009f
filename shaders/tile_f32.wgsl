// The tiled matmul's workgroup tiles in f32: exact, and the fallback where
// the adapter lacks `shader-f16`.
alias tile_t = f32;
