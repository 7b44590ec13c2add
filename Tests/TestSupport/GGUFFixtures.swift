// The GGUF writer and tiny models live in the GGUFWriter library so make-tiny-model can use them too;
// tests get them through TestSupport.
@_exported import GGUFWriter
