import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FederationStatsRepository } from './federation-stats.repository';

/**
 * The coordinator's Prometheus metrics, on a registry of its own (several apps in one process — tests — do not
 * collide). Request metrics are recorded by the HTTP middleware; federation gauges are read from the database at
 * scrape time, so every replica reports the same federation state.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly socketConnections: Gauge<'kind'>;
  readonly socketEvents: Counter<'event' | 'direction'>;
  readonly socketEventsRefused: Counter<'kind'>;
  readonly socketsCut: Counter<'kind'>;
  readonly bundleBuildSeconds: Histogram<never>;
  readonly uploadBytes: Counter<never>;

  constructor(stats: FederationStatsRepository) {
    collectDefaultMetrics({ register: this.registry, prefix: 'casam_coordinator_' });
    this.httpRequests = new Counter({
      name: 'casam_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'casam_http_request_duration_seconds',
      help: 'HTTP request duration from arrival to the last byte sent',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.socketConnections = new Gauge({
      name: 'casam_socket_connections',
      help: 'Open socket.io connections, by kind (site, admin)',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.socketEvents = new Counter({
      name: 'casam_socket_events_total',
      help: 'socket.io events, by event name and direction (in, out)',
      labelNames: ['event', 'direction'],
      registers: [this.registry],
    });
    // by kind only: the event name of a refused event is the client's choice, not a bounded label
    this.socketEventsRefused = new Counter({
      name: 'casam_socket_events_refused_total',
      help: 'socket.io events dropped because their socket was over its event budget, by kind (site, admin)',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.socketsCut = new Counter({
      name: 'casam_socket_abuse_disconnects_total',
      help: 'sockets disconnected for sending past their event budget, by kind (site, admin)',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.bundleBuildSeconds = new Histogram({
      name: 'casam_bundle_build_seconds',
      help: 'Time to build, sign and store a router bundle',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [this.registry],
    });
    this.uploadBytes = new Counter({
      name: 'casam_upload_bytes_total',
      help: 'Adapter upload bytes received in chunks',
      registers: [this.registry],
    });
    const federation = (
      name: string,
      help: string,
      label: string,
      read: () => Promise<Record<string, number>>,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers: [this.registry],
        async collect() {
          for (const [k, v] of Object.entries(await read())) this.set({ [label]: k }, v);
        },
      });
    const byStatus = (table: 'sites' | 'tasks' | 'adapter_versions') => stats.countByStatus(table);
    federation('casam_sites', 'Sites by status', 'status', () => byStatus('sites'));
    federation('casam_tasks', 'Tasks by status', 'status', () => byStatus('tasks'));
    federation('casam_adapter_versions', 'Adapter versions by status', 'status', () =>
      byStatus('adapter_versions'),
    );
    new Gauge({
      name: 'casam_bundle_latest_version',
      help: 'Version of the newest published router bundle (0: none yet)',
      registers: [this.registry],
      async collect() {
        this.set(await stats.latestBundleVersion());
      },
    });
  }
}
