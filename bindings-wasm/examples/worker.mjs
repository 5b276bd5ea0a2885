// A worker process for the dashboard test and the demo (scripts/demo.sh): connects to an interlock server
// (URL and INTERLOCK_TOKEN from the environment) with this package, and
//   `cycle NAME ID`: takes lock NAME over and over, recording each turn at jobs/ID;
//   `hold NAME ID`:  takes lock NAME once, writes `NAME/holder`, and keeps it until killed;
// Each line on stdout is a JSON report: {"id", "event", "token"}.
import { connect } from '../dist/index.js';

const [role, name, id] = process.argv.slice(2);
const db = await connect(process.env.INTERLOCK_URL);
const report = (event, token) => console.log(JSON.stringify({ id, event, token }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (role === 'cycle') {
  for (let turn = 1; ; turn++) {
    const lock = db.lock(name, { ttl: 5, owner: id });
    const token = await lock.acquire();
    await db.txn().require(lock).set(`jobs/${id}`, { turn, token }).commit();
    report('turn', token);
    await sleep(300 + Math.random() * 300);
    await lock.release();
    await sleep(100);
  }
} else if (role === 'hold') {
  const lock = db.lock(name, { ttl: 5, owner: id });
  const token = await lock.acquire();
  await db.set(`${name}/holder`, { id, token });
  report('holding', token);
  await new Promise(() => {});
} else {
  console.error(`unknown role '${role}' (cycle or hold)`);
  process.exit(2);
}
