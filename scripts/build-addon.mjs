#!/usr/bin/env node
/**
 * Builds the native training addon (build/Release/mien_torch.node) against libtorch. Runs as npm's `install` script,
 * so a machine without libtorch must still finish `npm ci`: it prints what to install and exits 0, and mien's
 * inference parts (onnxruntime) work without the addon.
 *
 *   node scripts/build-addon.mjs           build unless the addon is newer than its sources
 *   node scripts/build-addon.mjs --force   always rebuild (`npm run build:addon`)
 *   node scripts/build-addon.mjs --print include_dirs|libraries|ldflags|defines
 *                                          what binding.gyp asks for, so libtorch is found in one place only
 *
 * libtorch comes from MIEN_LIBTORCH (a libtorch root with include/ and lib/, e.g. the `torch` folder of a pip
 * PyTorch, CUDA builds included; MIEN_TORCH_CXX11_ABI=0|1 picks its C++ ABI, default 1), else Debian's
 * libtorch-dev under /usr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ADDON = join(ROOT, 'build', 'Release', 'mien_torch.node');
/** Records which libtorch the addon was built against, so switching MIEN_LIBTORCH triggers a rebuild. */
const STAMP = join(ROOT, 'build', 'mien_torch.libtorch.json');
const INSTALL_HINT = 'sudo apt-get install -y libtorch-dev';

class LibtorchError extends Error {}

const hasLibrary = (dir, name) => existsSync(join(dir, `lib${name}.so`));

/** Debian/Ubuntu's libtorch-dev: headers under /usr/include, libraries in the multiarch folder. */
function debianLibtorch() {
  const include = '/usr/include/torch/csrc/api/include';
  if (!existsSync(include)) return undefined;
  const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
  const libDir = [multiarch && `/usr/lib/${multiarch}`, '/usr/lib64', '/usr/lib']
    .filter(Boolean)
    .find((dir) => hasLibrary(dir, 'torch_cpu'));
  if (!libDir) return undefined;
  return { source: '/usr (Debian libtorch-dev)', includeDirs: [include], libDir, cxx11Abi: undefined, rpath: false };
}

function customLibtorch(root) {
  const include = join(root, 'include', 'torch', 'csrc', 'api', 'include');
  const libDir = join(root, 'lib');
  if (!existsSync(include) || !hasLibrary(libDir, 'torch_cpu')) {
    throw new LibtorchError(`MIEN_LIBTORCH=${root} is not a libtorch root: expected ${include} and ${join(libDir, 'libtorch_cpu.so')}`);
  }
  const abi = process.env.MIEN_TORCH_CXX11_ABI ?? '1';
  if (abi !== '0' && abi !== '1') throw new LibtorchError(`MIEN_TORCH_CXX11_ABI must be 0 or 1, got "${abi}"`);
  return { source: root, includeDirs: [join(root, 'include'), include], libDir, cxx11Abi: abi, rpath: true };
}

/**
 * The distributed backends this libtorch can give the addon: c10d needs its headers; Gloo also needs Gloo's own
 * headers (Debian ships them apart, in libgloo-dev), NCCL a CUDA build that has ProcessGroupNCCL.
 */
function distributedBackends(includeDirs, cuda) {
  // Only this libtorch's own headers: another copy of Gloo's (Debian's, beside a pip libtorch) need not match its build.
  const find = (relative) => includeDirs.some((dir) => existsSync(join(dir, relative)));
  const c10d = find('torch/csrc/distributed/c10d/TCPStore.hpp');
  return {
    c10d,
    gloo: c10d && find('torch/csrc/distributed/c10d/ProcessGroupGloo.hpp') && find('gloo/algorithm.h'),
    nccl: c10d && cuda && find('torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp'),
  };
}

/** The libtorch to build against, or undefined when none is installed. */
function findLibtorch() {
  const custom = process.env.MIEN_LIBTORCH;
  const found = custom ? customLibtorch(resolve(custom)) : debianLibtorch();
  if (!found) return undefined;
  const cuda = hasLibrary(found.libDir, 'torch_cuda');
  // c10d's headers are under the include folder that holds torch/csrc/api/include, the C++ API's own folder.
  const roots = found.includeDirs.map((dir) => resolve(dir, dir.endsWith(join('csrc', 'api', 'include')) ? '../../../..' : '.'));
  return { ...found, cuda, distributed: distributedBackends(roots, cuda) };
}

/** The values binding.gyp splices in (one per line, so a path is one gyp list item). */
function gypValues(torch, key) {
  switch (key) {
    case 'include_dirs':
      return torch.includeDirs;
    case 'defines': {
      const { c10d, gloo, nccl } = torch.distributed;
      return [
        `MIEN_WITH_CUDA=${torch.cuda ? 1 : 0}`,
        `MIEN_WITH_C10D=${c10d ? 1 : 0}`,
        `MIEN_WITH_GLOO=${gloo ? 1 : 0}`,
        `MIEN_WITH_NCCL=${nccl ? 1 : 0}`,
        // ProcessGroupNCCL.hpp is empty unless its build flag is set.
        ...(nccl ? ['USE_C10D_NCCL'] : []),
        ...(gloo ? ['USE_C10D_GLOO'] : []),
        ...(torch.cxx11Abi ? [`_GLIBCXX_USE_CXX11_ABI=${torch.cxx11Abi}`] : []),
      ];
    }
    case 'libraries': {
      // --no-as-needed: nothing references torch_cuda's symbols directly, yet loading it is what registers the CUDA
      // kernels with the dispatcher.
      const cuda = torch.cuda ? ['-Wl,--no-as-needed', '-ltorch_cuda', '-Wl,--as-needed', '-lc10_cuda'] : [];
      return [`-L${torch.libDir}`, ...cuda, '-ltorch', '-ltorch_cpu', '-lc10'];
    }
    case 'ldflags':
      return torch.rpath ? [`-Wl,-rpath,${torch.libDir}`] : [];
    default:
      throw new LibtorchError(`--print takes include_dirs, defines, libraries or ldflags, not "${key}"`);
  }
}

function newestSourceTime() {
  const sources = [join(ROOT, 'binding.gyp'), fileURLToPath(import.meta.url)];
  for (const name of readdirSync(join(ROOT, 'addon'))) sources.push(join(ROOT, 'addon', name));
  return Math.max(...sources.map((file) => statSync(file).mtimeMs));
}

function isUpToDate(stamp) {
  if (!existsSync(ADDON) || !existsSync(STAMP)) return false;
  if (readFileSync(STAMP, 'utf8') !== stamp) return false;
  return statSync(ADDON).mtimeMs > newestSourceTime();
}

/** npm hands its bundled node-gyp to lifecycle scripts; outside npm, find the copy npm ships with. */
function nodeGypCommand() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const script = candidates.find((file) => file && existsSync(file));
  return script ? [process.execPath, script] : ['node-gyp'];
}

/**
 * node-gyp downloads Node's headers unless told where they are; npm passes ~/.npmrc's nodedir, and a Node installed
 * with its headers (Debian's nodejs, the official tarballs) has them next to the binary.
 */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function build(force) {
  const torch = findLibtorch();
  if (!torch) {
    console.error(
      'mien: libtorch not found, so the native training engine was not built.\n' +
        `  To train models: ${INSTALL_HINT} && npm run build:addon\n` +
        '  (or point MIEN_LIBTORCH at a libtorch root). Inference, ONNX export and the data tools work without it.',
    );
    return 0;
  }
  const stamp = JSON.stringify(torch);
  if (!force && isUpToDate(stamp)) {
    console.log(`mien: native training engine is up to date (${ADDON})`);
    return 0;
  }
  const { gloo, nccl } = torch.distributed;
  const backends = [gloo && 'Gloo', nccl && 'NCCL'].filter(Boolean).join(' and ') || 'none';
  console.log(
    `mien: building the native training engine against libtorch from ${torch.source}${torch.cuda ? ' (CUDA)' : ''}; ` +
      `distributed backends: ${backends}`,
  );
  if (!gloo)
    console.log(
      'mien: no Gloo, so `mien train --world-size/--procs` cannot run on CPUs: sudo apt-get install -y libgloo-dev, then npm run build:addon',
    );
  const [command, ...args] = nodeGypCommand();
  const result = spawnSync(command, [...args, 'rebuild', ...nodedirArgs()], { cwd: ROOT, stdio: 'inherit' });
  if (result.error) {
    console.error(`mien: could not run node-gyp: ${result.error.message}`);
    return 1;
  }
  if (result.status !== 0) {
    console.error('mien: building the native training engine failed; the compiler output is above.');
    return result.status ?? 1;
  }
  mkdirSync(dirname(STAMP), { recursive: true });
  writeFileSync(STAMP, stamp);
  return 0;
}

function main(argv) {
  const printAt = argv.indexOf('--print');
  if (printAt >= 0) {
    const torch = findLibtorch();
    if (!torch) throw new LibtorchError(`libtorch not found: ${INSTALL_HINT}, or set MIEN_LIBTORCH`);
    console.log(gypValues(torch, argv[printAt + 1]).join('\n'));
    return 0;
  }
  return build(argv.includes('--force'));
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof LibtorchError)) throw err;
  console.error(`mien: ${err.message}`);
  process.exitCode = 1;
}
