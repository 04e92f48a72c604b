"""`dnnconf export`: a low-latency model from a run (the note's summary: fold batch norm, prune, lower
precision).

- `exporter`: the pipeline and the export folder (`export_run`, `load_model`).
- `fold`: batch norm folded into the layer before it. `prune`: magnitude pruning. `precision`: float16,
  bfloat16, int8. `onnx_file`: the ONNX model. `measure`: accuracy and latency. `report`: the comparison table.
"""
