import { describe, expect, it } from 'vitest';
import {
  fieldOfError, filterSessions, formatAgo, formatBytes, formatDuration, formatRate, historyQuery,
  hostPort, parseProm, promSum, rates, sortBy, splitList, toCsv,
} from '../src/format.js';

describe('units', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(formatBytes(300 * 1024 ** 3)).toBe('300 GiB');
    expect(formatBytes(null)).toBe('–');
    expect(formatRate(2048)).toBe('2.0 KiB/s');
  });
  it('formats durations and ages', () => {
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 5 s');
    expect(formatDuration(7800)).toBe('2 h 10 min');
    expect(formatDuration(3 * 86400 + 4 * 3600)).toBe('3 d 4 h');
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(formatAgo('2026-01-01T11:57:00Z', now)).toBe('3 min ago');
    expect(formatAgo('2026-01-01T11:59:58Z', now)).toBe('just now');
    expect(formatAgo('2025-12-30T12:00:00Z', now)).toBe('2 d ago');
    expect(formatAgo('garbage', now)).toBe('–');
  });
  it('brackets IPv6 addresses', () => {
    expect(hostPort('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(hostPort('::1', 443)).toBe('[::1]:443');
  });
});

const S = [
  { id: 'a', user: 'alice', source_ip: '10.0.0.5', dest_ip: 'example.com', dest_port: 443, protocol: 'tcp', status: 'active', bytes_sent: 10 },
  { id: 'b', user: 'bob', source_ip: '10.0.0.6', dest_ip: '192.0.2.7', dest_port: 22, protocol: 'tcp', status: 'closed', bytes_sent: 300 },
  { id: 'c', user: '', source_ip: '10.0.0.7', dest_ip: 'alice.example', dest_port: 80, protocol: 'udp', status: 'active', bytes_sent: null },
];

describe('filters and sorting', () => {
  it('matches every word anywhere, or one field with key:value', () => {
    expect(filterSessions(S, '').map((s) => s.id)).toEqual(['a', 'b', 'c']);
    expect(filterSessions(S, 'alice').map((s) => s.id)).toEqual(['a', 'c']);
    expect(filterSessions(S, 'user:alice').map((s) => s.id)).toEqual(['a']);
    expect(filterSessions(S, 'ALICE udp').map((s) => s.id)).toEqual(['c']);
    expect(filterSessions(S, '22').map((s) => s.id)).toEqual(['b']);
    expect(filterSessions(S, 'nobody')).toEqual([]);
  });
  it('sorts numbers numerically, nulls last, without changing the input', () => {
    expect(sortBy(S, 'bytes_sent', 'desc').map((s) => s.id)).toEqual(['b', 'a', 'c']);
    expect(sortBy(S, 'bytes_sent', 'asc').map((s) => s.id)).toEqual(['a', 'b', 'c']);
    expect(sortBy(S, 'user').map((s) => s.id)).toEqual(['c', 'a', 'b']);
    expect(S[0].id).toBe('a');
  });
  it('builds the history query without empty filters', () => {
    expect(historyQuery({ user: ' alice ', dest_ip: '', status: 'closed', hours: 24, page: 2 }))
      .toBe('user=alice&status=closed&hours=24&page=2');
  });
});

describe('CSV', () => {
  it('quotes what needs quoting', () => {
    const csv = toCsv([{ a: 'x,y', b: 'say "hi"', c: null }, { a: 1, b: 'line\nbreak', c: 0 }], ['a', 'b', 'c']);
    expect(csv).toBe('a,b,c\r\n"x,y","say ""hi""",\r\n1,"line\nbreak",0\r\n');
  });
});

describe('Prometheus text', () => {
  const text = [
    '# HELP x y', '# TYPE csocks_acl_decisions_total counter',
    'csocks_acl_decisions_total{decision="allow"} 7',
    'csocks_acl_decisions_total{decision="block"} 2',
    'rustsocks_active_sessions 3',
    'weird{label="a\\"b"} 1', 'not a sample',
  ].join('\n');
  it('parses samples and sums families by label', () => {
    const p = parseProm(text);
    expect(promSum(p, 'csocks_acl_decisions_total')).toBe(9);
    expect(promSum(p, 'csocks_acl_decisions_total', { decision: 'block' })).toBe(2);
    expect(promSum(p, 'rustsocks_active_sessions')).toBe(3);
    expect(p.weird[0].labels.label).toBe('a"b');
    expect(promSum(p, 'missing')).toBe(0);
  });
  it('turns counters into rates, never negative', () => {
    expect(rates([{ t: 0, v: 0 }, { t: 2000, v: 100 }, { t: 4000, v: 50 }])).toEqual([{ t: 2000, v: 50 }, { t: 4000, v: 0 }]);
  });
});

describe('form errors', () => {
  it('attributes an API error to its field', () => {
    expect(fieldOfError("rule 1: destinations: '10.0.0.0/33' is not a valid destination", ['destinations', 'ports'])).toBe('destinations');
    expect(fieldOfError('port range 9-1 is reversed', ['destinations', 'ports'])).toBe('ports');
    expect(fieldOfError('disk full', ['destinations'])).toBe(null);
    expect(splitList(' a, b ,,c ')).toEqual(['a', 'b', 'c']);
  });
});

describe('form error aliases', () => {
  it('maps words of a message to a field', () => {
    expect(fieldOfError("invalid rule: bad CIDR '10.0.0.0/99'", ['destinations', 'ports'], { destinations: ['cidr'] })).toBe('destinations');
  });
});
