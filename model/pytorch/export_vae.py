#!/usr/bin/env python3
"""Exports a VAE trained in PyTorch to a weights file vae-server loads.

    export_vae.py CHECKPOINT OUT.safetensors [--data DIR] [--activation relu|leaky_relu|tanh]
                  [--map SRC=DST]... [--dataset NAME] [--epochs N] [--train-loss X] [--test-loss X]
                  [--trusted]

CHECKPOINT is what torch.save wrote: a state_dict, or a dict holding one under "state_dict",
"model_state_dict" or "model" (a whole pickled module, or a checkpoint with other Python objects,
needs --trusted: unpickling them can run code). From Python:

    from export_vae import export
    export(model, "out.safetensors", data="../shared/data/mnist")   # a module or a state_dict

The model must be a fully connected VAE like the PyTorch example's: nn.Linear layers 784 -> hidden
-> two heads (mu, logvar) and a decoder latent -> hidden reversed -> 784 whose output the server
passes through a sigmoid; one activation (relu, leaky_relu with slope 0.2, or tanh) after every
hidden layer. Layer names are mapped onto the project's tensor names (enc.0 ... enc.mu, enc.logvar,
dec.0 ... dec.out) by looking at the shapes: the encoder is the chain of layers from 784 inputs to
the heads, the decoder the chain from the latent size back to 784. The heads are found by name (fc21
and fc22, fc_mu and fc_var, mu and logvar, z_mean and z_log_var...) or, failing that, as the one pair
of consecutive layers with the same shape (the first is mu). When that is not enough, --map names
layers: SRC is a layer's name in the state_dict (e.g. encoder.0), DST one of enc.0-enc.3, enc.mu,
enc.logvar, dec.0-dec.3, dec.out, or "-" to leave SRC out (a tensor inference does not use). Give
either only heads and "-", or every layer.

--data DIR computes the class centroids (mean mu of each digit over DIR's training set,
train-images-idx3-ubyte and train-labels-idx1-ubyte, gzipped or not), which /interpolate uses for
class labels. The metadata records the architecture, the dataset and what is known of the training.
"""
import argparse
import gzip
import os
import pickle
import re
import struct
import sys
from collections import OrderedDict

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vae_torch  # noqa: E402

TARGET_RE = re.compile(r"^(enc\.[0-3]|enc\.mu|enc\.logvar|dec\.[0-3]|dec\.out|-)$")
MU_RE = re.compile(r"^(fc_?21|hidden2mu|(.*_)?(mu|mean|z_mean)(_.*)?)$", re.I)
LOGVAR_RE = re.compile(r"^(fc_?22|hidden2log_?var|(.*_)?(log_?var|var)(_.*)?)$", re.I)
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


class ExportError(ValueError):
    """The model cannot be expressed as a vae-server weights file; the message says why and how
    to fix it."""


class Layer:
    """One fully connected layer of the source model: weight (out, in), bias (out)."""

    def __init__(self, name, weight, bias, index):
        self.name, self.weight, self.bias, self.index = name, weight, bias, index
        self.n_out, self.n_in = weight.shape

    def __repr__(self):
        return "%s [%d <- %d]" % (self.name, self.n_out, self.n_in)


# --- reading the source model ---

def state_dict_of(obj):
    """{name: tensor} of a module, a state_dict or a training checkpoint ("module." prefixes of
    DataParallel removed)."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
        for key in CHECKPOINT_KEYS:
            if key in obj:
                return state_dict_of(obj[key])
        raise ExportError("the checkpoint holds no tensors, nor a state_dict under %s" % ", ".join(CHECKPOINT_KEYS))
    if not isinstance(obj, dict):
        raise ExportError("expected a module or a state_dict, not %s" % type(obj).__name__)
    state = OrderedDict()
    for name, value in obj.items():
        if torch.is_tensor(value):
            state[name[7:] if name.startswith("module.") else name] = value.detach().to("cpu", torch.float32)
    return state


def split_layers(state):
    """(OrderedDict of Layers in state order, OrderedDict of the other tensors). A 2-D `.weight`
    is a layer; its `.bias` is zero when the layer has none."""
    layers, others = OrderedDict(), OrderedDict()
    for name, t in state.items():
        if name.endswith(".weight") and t.dim() == 2:
            prefix = name[:-len(".weight")]
            bias = state.get(prefix + ".bias")
            if bias is None:
                bias = torch.zeros(t.shape[0])
            if bias.dim() != 1 or bias.shape[0] != t.shape[0]:
                raise ExportError("%s.bias has shape %s; %s.weight needs %d values" %
                                  (prefix, list(bias.shape), prefix, t.shape[0]))
            layers[prefix] = Layer(prefix, t, bias, len(layers))
    for name, t in state.items():
        prefix = name.rsplit(".", 1)[0]
        if prefix not in layers:
            others[name] = t
    return layers, others


def activation_of_module(module):
    """The activation a module's submodules use (None when it applies them functionally)."""
    unsupported = tuple(getattr(nn, n) for n in ("ELU", "GELU", "SiLU", "Softplus", "PReLU", "SELU", "CELU",
                                                  "Mish", "Hardtanh", "ReLU6", "Hardswish", "LogSigmoid")
                        if hasattr(nn, n))
    found = set()
    for m in module.modules():
        if isinstance(m, nn.LeakyReLU):
            if abs(m.negative_slope - vae_torch.LEAKY_SLOPE) > 1e-9:
                raise ExportError("LeakyReLU with negative_slope %g: the server's leaky_relu has slope %g"
                                  % (m.negative_slope, vae_torch.LEAKY_SLOPE))
            found.add("leaky_relu")
        elif isinstance(m, nn.ReLU):
            found.add("relu")
        elif isinstance(m, nn.Tanh):
            found.add("tanh")
        elif isinstance(m, unsupported):
            raise ExportError("%s is not an activation the server has (relu, leaky_relu, tanh)" % type(m).__name__)
    if len(found) > 1:
        raise ExportError("the model mixes activations (%s); the server uses one throughout" % ", ".join(sorted(found)))
    return found.pop() if found else None


# --- mapping layer names onto the project's ---

def parse_maps(maps):
    """{source prefix: target} from "SRC=DST" strings."""
    out = OrderedDict()
    for item in maps or ():
        src, sep, dst = item.partition("=")
        src = re.sub(r"\.(weight|bias)$", "", src.strip())
        dst = dst.strip()
        if not sep or not src or not TARGET_RE.match(dst):
            raise ExportError("--map %r: expected SRC=DST with DST one of enc.0-enc.3, enc.mu, enc.logvar, "
                              "dec.0-dec.3, dec.out or -" % item)
        if src in out:
            raise ExportError("--map names %s twice" % src)
        out[src] = dst
    targets = [t for t in out.values() if t != "-"]
    for t in set(targets):
        if targets.count(t) > 1:
            raise ExportError("--map gives %s more than once" % t)
    return out


def find_heads(layers, hints):
    """(mu, logvar) Layers: from --map, by name, or as the one pair of consecutive layers of the
    same shape."""
    by_hint = {t: layers[s] for s, t in hints.items() if t in ("enc.mu", "enc.logvar")}
    if len(by_hint) == 2:
        return by_hint["enc.mu"], by_hint["enc.logvar"]
    if len(by_hint) == 1:
        raise ExportError("--map names only one head; name both enc.mu and enc.logvar")
    last = lambda layer: layer.name.rsplit(".", 1)[-1]  # noqa: E731
    mus = [l for l in layers.values() if MU_RE.match(last(l))]
    logvars = [l for l in layers.values() if LOGVAR_RE.match(last(l)) and l not in mus]
    if len(mus) == 1 and len(logvars) == 1:
        return mus[0], logvars[0]
    ordered = list(layers.values())
    pairs = [(a, b) for a, b in zip(ordered, ordered[1:]) if a.weight.shape == b.weight.shape]
    if len(pairs) == 1:
        return pairs[0]
    raise ExportError("cannot tell which layers are the mu and logvar heads (layers: %s); name them with "
                      "--map LAYER=enc.mu --map LAYER=enc.logvar" % ", ".join(map(repr, layers.values())))


def chains(layers, start, end, max_len):
    """Every sequence of distinct layers feeding each other from `start` inputs to `end`
    outputs, at most max_len long."""
    found = []

    def walk(path, width):
        if path and width == end:
            found.append(list(path))
        if len(path) == max_len:
            return
        for layer in layers:
            if layer not in path and layer.n_in == width:
                path.append(layer)
                walk(path, layer.n_out)
                path.pop()

    walk([], start)
    return found


def detect_mapping(layers, hints):
    """{layer name: target} for every layer, from the structure (and the head hints)."""
    mu, logvar = find_heads(layers, hints)
    if mu.weight.shape != logvar.weight.shape:
        raise ExportError("the heads %r and %r differ in shape" % (mu, logvar))
    d, h = mu.n_out, mu.n_in
    rest = [l for l in layers.values() if l is not mu and l is not logvar]
    solutions = []
    for enc in chains(rest, vae_torch.IMAGE_PIXELS, h, vae_torch.MAX_HIDDEN):
        remaining = [l for l in rest if l not in enc]
        for dec in chains(remaining, d, vae_torch.IMAGE_PIXELS, len(enc) + 1):
            if len(dec) == len(remaining) == len(enc) + 1:
                solutions.append((enc, dec))
    if len(solutions) > 1:  # keep those whose layers are declared in the order they run
        in_order = lambda seq: all(a.index < b.index for a, b in zip(seq, seq[1:]))  # noqa: E731
        solutions = [s for s in solutions if in_order(s[0]) and in_order(s[1])] or solutions
    if not solutions:
        raise ExportError("the layers do not form the server's VAE: an encoder 784 -> ... -> %d feeding the "
                          "heads %r and %r, and a decoder %d -> ... -> 784 using every other layer exactly "
                          "once (layers: %s). Leave out unused ones with --map NAME=-, or map every layer"
                          % (h, mu, logvar, d, ", ".join(map(repr, rest))))
    if len(solutions) > 1:
        raise ExportError("the layers can be read as an encoder and a decoder in %d ways; name them with "
                          "--map (e.g. --map %s=enc.0)" % (len(solutions), solutions[0][0][0].name))
    enc, dec = solutions[0]
    mapping = OrderedDict()
    for i, layer in enumerate(enc):
        mapping[layer.name] = "enc.%d" % i
    mapping[mu.name], mapping[logvar.name] = "enc.mu", "enc.logvar"
    for i, layer in enumerate(dec[:-1]):
        mapping[layer.name] = "dec.%d" % i
    mapping[dec[-1].name] = "dec.out"
    return mapping


def project_tensors(layers, mapping):
    """(tensors with the project's names, hidden widths, latent size), checking the shapes form
    the server's architecture."""
    by_target = {t: layers[s] for s, t in mapping.items() if t != "-"}
    hidden = []
    while "enc.%d" % len(hidden) in by_target:
        hidden.append(by_target["enc.%d" % len(hidden)].n_out)
    for need in ["enc.0", "enc.mu", "enc.logvar", "dec.out"] + ["dec.%d" % i for i in range(len(hidden))]:
        if need not in by_target:
            raise ExportError("no layer maps onto %s (mapping: %s)" % (need, dict(mapping)))
    extra = sorted(set(by_target) - {"enc.%d" % i for i in range(len(hidden))} -
                   {"dec.%d" % i for i in range(len(hidden))} - {"enc.mu", "enc.logvar", "dec.out"})
    if extra:
        raise ExportError("%s do not fit a VAE with %d hidden layers" % (", ".join(extra), len(hidden)))
    d = by_target["enc.mu"].n_out
    widths = [vae_torch.IMAGE_PIXELS] + hidden
    want = OrderedDict()
    for i in range(len(hidden)):
        want["enc.%d" % i] = (widths[i + 1], widths[i])
    want["enc.mu"] = want["enc.logvar"] = (d, hidden[-1])
    back = [d] + hidden[::-1]
    for i in range(len(hidden)):
        want["dec.%d" % i] = (back[i + 1], back[i])
    want["dec.out"] = (vae_torch.IMAGE_PIXELS, hidden[0])
    for target, shape in want.items():
        got = tuple(by_target[target].weight.shape)
        if got != shape:
            raise ExportError("%s (%s) has weight shape %s; the server's %s architecture needs %s there "
                              "(its decoder mirrors the encoder)" % (target, by_target[target].name, list(got),
                                                                    "-".join(map(str, widths + [d])), list(shape)))
    tensors = OrderedDict()
    for target in want:
        tensors[target + ".weight"] = by_target[target].weight.clone()
        tensors[target + ".bias"] = by_target[target].bias.clone()
    for name, t in tensors.items():
        if not torch.isfinite(t).all():
            raise ExportError("%s (from %s) holds NaN or infinite values" % (name, by_target[name.rsplit(".", 1)[0]].name))
    return tensors, hidden, d


def map_layers(state, maps=None):
    """(project tensors, hidden, d, {source name: target}, centroids or None) of a state_dict."""
    hints = parse_maps(maps)
    layers, others = split_layers(state)
    dropped = [s for s, t in hints.items() if t == "-"]
    for src in hints:
        if src not in layers and not any(n == src or n.startswith(src + ".") for n in state):
            raise ExportError("--map %s: the model has no layer or tensor %s (layers: %s)" %
                              (src, src, ", ".join(layers)))
    for src, dst in hints.items():
        if dst != "-" and src not in layers:
            raise ExportError("--map %s=%s: %s is not a fully connected layer (layers: %s)" %
                              (src, dst, src, ", ".join(layers)))
    is_dropped = lambda name: any(name == p or name.startswith(p + ".") for p in dropped)  # noqa: E731
    layers = OrderedDict((n, l) for n, l in layers.items() if not is_dropped(n))
    centroids = others.pop("centroids", None)
    leftover = [n for n in others if not is_dropped(n)]
    if leftover:
        raise ExportError("tensor %s (shape %s) is not part of a fully connected VAE: the server runs nn.Linear "
                          "layers only. If inference does not use it, leave it out with --map %s=-"
                          % (leftover[0], list(others[leftover[0]].shape), leftover[0].rsplit(".", 1)[0]))
    structural = [t for t in hints.values() if t not in ("-", "enc.mu", "enc.logvar")]
    if structural:
        missing = [n for n in layers if n not in hints]
        if missing:
            raise ExportError("--map names some layers but not %s: map every layer, or only the heads" %
                              ", ".join(missing))
        mapping = OrderedDict((s, t) for s, t in hints.items() if t != "-")
    else:
        mapping = detect_mapping(layers, hints)
    tensors, hidden, d = project_tensors(layers, mapping)
    if centroids is not None and tuple(centroids.shape) != (vae_torch.NUM_CLASSES, d):
        raise ExportError("centroids has shape %s; expected [10, %d]" % (list(centroids.shape), d))
    return tensors, hidden, d, mapping, centroids


# --- centroids from the training set ---

def read_idx(path):
    """A uint8 idx file (gzipped or not) as a tensor: images (n, rows*cols) or labels (n)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ExportError("%s is not an idx file of unsigned bytes" % path)
    ndim = data[3]
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    count = 1
    for n in dims:
        count *= n
    if len(body) != count:
        raise ExportError("%s: %d bytes of data for dimensions %s" % (path, len(body), list(dims)))
    t = torch.frombuffer(bytearray(body), dtype=torch.uint8)
    return t.reshape(dims[0], -1) if ndim > 1 else t


def find_idx(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise ExportError("%s has no %s[.gz]" % (data_dir, stem))


def training_set(data_dir):
    """(images (n, 784) float32 in 0..1, labels (n)) of DIR's training files."""
    images = read_idx(find_idx(data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(find_idx(data_dir, "train-labels-idx1-ubyte"))
    if images.shape[1] != vae_torch.IMAGE_PIXELS or labels.shape[0] != images.shape[0]:
        raise ExportError("%s: expected 28x28 images and one label each" % data_dir)
    if int(labels.max()) >= vae_torch.NUM_CLASSES:
        raise ExportError("%s: labels must be 0-9" % data_dir)
    return images.float() / 255.0, labels.long()


def class_centroids(model, images, labels, chunk=1000):
    """Mean mu of each class (zeros for a class without images), summed in float64 as the trainer
    does."""
    sums = torch.zeros(vae_torch.NUM_CLASSES, model.latent_dim, dtype=torch.float64)
    counts = torch.zeros(vae_torch.NUM_CLASSES, dtype=torch.float64)
    with torch.no_grad():
        for i in range(0, images.shape[0], chunk):
            mu, _ = model.encode(images[i:i + chunk])
            sums.index_add_(0, labels[i:i + chunk], mu.double())
            counts += torch.bincount(labels[i:i + chunk], minlength=vae_torch.NUM_CLASSES).double()
    return (sums / counts.clamp(min=1).unsqueeze(1)).float()


# --- the export ---

def export(model, path, activation=None, maps=None, data=None, dataset="mnist", epochs=None, train_loss=None,
           test_loss=None, metadata=None, command=None, log=None):
    """Writes `model` (an nn.Module, a state_dict or a checkpoint dict) to `path` as a vae-server
    weights file and returns the project's VAE module (vae_torch.VAE) holding what was written.
    Raises ExportError with the reason when the model does not fit the server's architecture.
    `activation` defaults to the one the module's submodules use, else relu; `maps` are "SRC=DST"
    strings (see the module doc); `data` a directory with the training idx files for the class
    centroids; `metadata` extra string entries; `log` a function given progress lines."""
    log = log or (lambda line: None)
    found = activation_of_module(model) if isinstance(model, nn.Module) else None
    if activation is None:
        activation = found or "relu"
        if not found:
            log("activation: relu (the default: the model applies it functionally; use --activation otherwise)")
    elif found and found != activation:
        raise ExportError("activation %s was asked for but the model's modules use %s" % (activation, found))
    if activation not in vae_torch.ACTIVATIONS:
        raise ExportError("activation must be one of %s, not %r" % (", ".join(vae_torch.ACTIVATIONS), activation))
    tensors, hidden, d, mapping, centroids = map_layers(state_dict_of(model), maps)
    for src, dst in mapping.items():
        log("  %-24s -> %s" % (src, dst))
    vae = vae_torch.VAE(hidden, d, activation, centroids=bool(data) or centroids is not None)
    if data:
        vae.load_state_dict(tensors, strict=False)
        images, labels = training_set(data)
        centroids = class_centroids(vae, images, labels)
        log("centroids: mean mu of each class over %d training images in %s" % (images.shape[0], data))
    if centroids is not None:
        tensors["centroids"] = centroids
    vae.load_state_dict(tensors, strict=True)
    widths = [vae_torch.IMAGE_PIXELS] + hidden + [d]
    meta = OrderedDict([
        ("format", "vae-serve/1"), ("activation", activation), ("latent_dim", str(d)),
        ("hidden", ",".join(map(str, hidden))), ("input_shape", "28x28"), ("dataset", dataset),
        ("source", "pytorch %s" % torch.__version__.split("+")[0]),
    ])
    for key, value in (("epochs", epochs), ("train_loss", train_loss), ("test_loss", test_loss)):
        if value is not None:
            meta[key] = ("%.3f" % value) if isinstance(value, float) else str(value)
    meta["command"] = command or "export_vae.export()"
    for key, value in (metadata or {}).items():
        meta[str(key)] = str(value)
    vae_torch.write_safetensors(path, tensors, meta)
    vae.metadata = dict(meta)
    log("wrote %s: %s, %s%s" % (path, "-".join(map(str, widths)), activation,
                                ", with centroids" if "centroids" in tensors else ""))
    return vae.eval()


def load_checkpoint(path, trusted=False):
    """What torch.save wrote to path. Only tensors and plain containers are unpickled unless
    `trusted` (a whole pickled module, or a checkpoint holding other Python objects, can run code
    when loaded)."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04" and magic[:1] != b"\x80":  # torch.save's zip, or its legacy pickle
        raise ExportError("%s is not a file written by torch.save (expected e.g. "
                          "torch.save(model.state_dict(), path))" % path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if not trusted:
            raise ExportError("%s holds more than tensors (%s). Save the model's state_dict "
                              "(torch.save(model.state_dict(), path)), or, if you trust the file, pass "
                              "--trusted to unpickle it fully" % (path, str(e).split(". ")[0]))
    except Exception as e:
        raise ExportError("%s: torch.load failed (%s): expected a file written by torch.save, e.g. "
                          "torch.save(model.state_dict(), path)" % (path, e))
    try:
        return torch.load(path, map_location="cpu")
    except Exception as e:  # e.g. a pickled module whose class cannot be imported here
        raise ExportError("%s: torch.load failed (%s). Save the model's state_dict "
                          "(torch.save(model.state_dict(), path)) and export that" % (path, e))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="export_vae.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("checkpoint", help="file written by torch.save (state_dict, module or checkpoint dict)")
    ap.add_argument("out", help="the .safetensors file to write")
    ap.add_argument("--activation", choices=vae_torch.ACTIVATIONS,
                    help="the hidden layers' activation (default: what the model's modules use, else relu)")
    ap.add_argument("--map", action="append", default=[], metavar="SRC=DST",
                    help="map a layer onto a project name (enc.0-3, enc.mu, enc.logvar, dec.0-3, dec.out) or - to drop it")
    ap.add_argument("--data", metavar="DIR", help="compute class centroids from DIR's training idx files")
    ap.add_argument("--dataset", default="mnist", help="the metadata's dataset name (default mnist)")
    ap.add_argument("--epochs", type=int, help="epochs trained, for the metadata")
    ap.add_argument("--train-loss", type=float, help="last training loss per image, for the metadata")
    ap.add_argument("--test-loss", type=float, help="test loss per image, for the metadata")
    ap.add_argument("--trusted", action="store_true",
                    help="unpickle CHECKPOINT fully (a whole module, or other objects beside the tensors); "
                         "only for files you trust")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    args = ap.parse_args(argv)
    command = " ".join(["export_vae.py"] + list(sys.argv[1:] if argv is None else argv))
    try:
        export(load_checkpoint(args.checkpoint, args.trusted), args.out, activation=args.activation, maps=args.map, data=args.data,
               dataset=args.dataset, epochs=args.epochs, train_loss=args.train_loss, test_loss=args.test_loss,
               command=command, log=None if args.quiet else print)
    except (ExportError, OSError) as e:
        print("export_vae.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
