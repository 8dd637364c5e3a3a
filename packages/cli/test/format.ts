import t from 'tap';
import { binarySize, compactDuration, decimalSize, formatKeyValues, humanDuration, parseIntStrict, parseKeyValues, remaining, shortId, timeAgo, utcTime } from '../src/format.js';

t.test('relative times read as docker prints them', async (t) => {
  const now = Date.parse('2025-03-01T12:00:00.000Z');
  const ago = (ms: number) => timeAgo(new Date(now - ms).toISOString(), now);
  t.equal(ago(300), 'Less than a second ago');
  t.equal(ago(1000), '1 second ago');
  t.equal(ago(45_000), '45 seconds ago');
  t.equal(ago(90_000), 'About a minute ago');
  t.equal(ago(3 * 60_000), '3 minutes ago');
  t.equal(ago(50 * 60_000 + 59_000), '50 minutes ago');
  t.equal(ago(62 * 60_000), 'About an hour ago');
  t.equal(ago(5 * 3600_000), '5 hours ago');
  t.equal(ago(3 * 86_400_000), '3 days ago');
  t.equal(ago(20 * 86_400_000), '2 weeks ago');
  t.equal(ago(90 * 86_400_000), '3 months ago');
  t.equal(ago(800 * 86_400_000), '2 years ago');
  t.equal(ago(-5000), 'Less than a second ago', 'a clock a little ahead is not "in the future"');
  t.equal(timeAgo('garbage', now), '-');
  t.equal(humanDuration(59.9), '59 seconds');
});

t.test('durations, times, ids', async (t) => {
  t.equal(compactDuration(86_399), '23h59m', 'truncates, never rounds up to 24h');
  t.equal(compactDuration(86_400 * 2 + 3 * 3600 + 5), '2d3h');
  t.equal(compactDuration(250), '4m10s');
  t.equal(compactDuration(45), '45s');
  t.equal(compactDuration(-3), '0s');
  t.equal(remaining(0), 'expired');
  t.equal(remaining(-10), 'expired');
  t.equal(remaining(61), '1m1s');
  t.equal(utcTime('2025-03-01T12:00:00.123Z'), '2025-03-01T12:00:00Z');
  t.equal(utcTime('2025-03-01T13:00:00+01:00'), '2025-03-01T12:00:00Z', 'converted to UTC');
  t.equal(shortId('0123456789abcdef'), '0123456789ab');
});

t.test('strict whole numbers', async (t) => {
  t.equal(parseIntStrict('--vni', '4096'), 4096);
  t.equal(parseIntStrict('--vni', '0'), 0, 'ranges are the controller\'s to judge');
  for (const bad of ['', 'abc', '12abc', '1e3', '0x10', ' 5', '-1', '4.5', '+3', '99999999999999999999']) {
    t.throws(() => parseIntStrict('--mtu', bad), { code: 'VXNET_INVALID_ARGUMENT', message: `invalid --mtu "${bad}": expected a whole number` }, JSON.stringify(bad));
  }
});

t.test('key=value pairs', async (t) => {
  t.same(parseKeyValues('--label', []), {});
  t.same(parseKeyValues('--label', ['a=1', 'b=', 'c=x=y', 'a=2']), { a: '2', b: '', c: 'x=y' }, 'empty values, "=" in values, last one wins');
  t.throws(() => parseKeyValues('--label', ['a=1', 'novalue']), { message: 'invalid --label "novalue": expected key=value' });
  t.throws(() => parseKeyValues('--opt', ['=v']), { message: 'invalid --opt "=v": the key is empty (expected key=value)' });
  t.equal(formatKeyValues({ b: '2', a: '1' }), 'a=1, b=2');
  t.equal(formatKeyValues({}), '-');
});

t.test('sizes as docker stats prints them: binary for memory, decimal for network bytes, four digits', async (t) => {
  t.equal(binarySize(0), '0B');
  t.equal(binarySize(1023), '1023B');
  t.equal(binarySize(1024), '1KiB');
  t.equal(binarySize(1.5 * 1024 * 1024), '1.5MiB');
  t.equal(binarySize(8008896 * 1024), '7.638GiB');
  t.equal(decimalSize(648), '648B');
  t.equal(decimalSize(1200), '1.2kB');
  t.equal(decimalSize(999_999), '1000kB', 'four significant digits, never a unit up from rounding');
  t.equal(decimalSize(12_345_678), '12.35MB');
});
