// Usage: node tools/pack.cjs OUT_DIR. Packs the release tarballs in the napi-rs layout from a
// built folder (dist/ and the .node files that `napi build` left here): the main package
// `interlock-db` (the TypeScript layer and the generated loader, no native module, no scripts:
// nothing runs on install) with each per-platform package as an optional dependency, and one
// package per platform under npm/ carrying its .node file. Prints each tarball's path.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const out = path.resolve(process.argv[2] || path.join(root, '..', 'dist'));
const license = path.join(root, '..', 'LICENSE');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'interlock-db-pack-'));
fs.mkdirSync(out, { recursive: true });

function pack(dir) {
  const name = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', out], {
    cwd: dir, encoding: 'utf8',
  }).trim().split('\n').pop();
  console.log(path.join(out, name));
}

try {
  const platforms = fs.readdirSync(path.join(root, 'npm')).sort();
  const optional = {};
  for (const platform of platforms) {
    const source = path.join(root, 'npm', platform);
    const manifest = JSON.parse(fs.readFileSync(path.join(source, 'package.json'), 'utf8'));
    if (manifest.version !== pkg.version) {
      throw new Error(`npm/${platform}/package.json is version ${manifest.version}, package.json ${pkg.version}`);
    }
    const binary = path.join(root, manifest.main);
    if (!fs.existsSync(binary)) {
      throw new Error(`no ${manifest.main}: build it first (scripts/release.sh)`);
    }
    const dir = path.join(stage, platform);
    fs.mkdirSync(dir);
    for (const f of ['package.json', 'README.md']) fs.copyFileSync(path.join(source, f), path.join(dir, f));
    fs.copyFileSync(binary, path.join(dir, manifest.main));
    fs.copyFileSync(license, path.join(dir, 'LICENSE'));
    optional[manifest.name] = manifest.version;
    pack(dir);
  }

  // The main package: what package.json says, less what only a source checkout needs (the
  // install script that builds an unbuilt folder, the build tools).
  const main = path.join(stage, 'main');
  fs.mkdirSync(main);
  const { scripts, devDependencies, ...published } = pkg;
  published.files = ['dist/'];
  published.optionalDependencies = optional;
  fs.writeFileSync(path.join(main, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
  fs.cpSync(path.join(root, 'dist'), path.join(main, 'dist'), {
    recursive: true, filter: (f) => !f.endsWith('.node'),
  });
  fs.copyFileSync(path.join(root, 'README.md'), path.join(main, 'README.md'));
  fs.copyFileSync(license, path.join(main, 'LICENSE'));
  pack(main);
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}
