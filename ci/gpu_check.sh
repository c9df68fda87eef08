#!/usr/bin/env bash
# One prepared GPU check, run on a lent GPU machine through the device tool (it has no Rust toolchain: the benchmark
# binary is built here with `cargo bench --no-run --profile dev -p model --features wgpu --bench throughput`,
# stripped, xz-compressed into gpu-bin/throughput.xz and carried, with the Vulkan loader packages in .gl/).
#   wgpu: the model throughput benchmark (tiny + SmolLM2-135M shapes) and one transformers parity fixture;
#   CUDA: the PyTorch/transformers peer of the same workloads (benches/torch_peer.py).
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
OUT="${OUT:-/tmp/gpu-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('gpu-bin/throughput.xz'), open('/tmp/throughput', 'wb'))"
chmod +x /tmp/throughput
timeout 300 /tmp/throughput --device wgpu --parity tests/fixtures/models/qwen3_gqa_untied 2>&1 | tee "$OUT/wgpu.txt"
timeout 200 python3 benches/torch_peer.py --device cuda 2>&1 | tee "$OUT/torch_cuda.txt"
