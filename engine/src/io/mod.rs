//! Reading model files: GGUF, safetensors and Hugging Face `config.json`.
