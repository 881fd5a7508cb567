/**
 * A local authoritative DNS server (dns2, UDP on 127.0.0.1:0) whose answers a test changes while
 * attache resolves against it (`discovery.dns.servers: [127.0.0.1:PORT]`).
 */
import dns2 from "dns2";

const { Packet } = dns2;

export interface SrvRecord {
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface Zone {
  A?: string[];
  AAAA?: string[];
  SRV?: SrvRecord[];
  /** Answer every question for this name with this response code (2 SERVFAIL, 5 REFUSED, ...). */
  rcode?: number;
}

export interface FakeDns {
  /** "127.0.0.1:PORT", as `servers` takes it. */
  address: string;
  port: number;
  /** Questions received so far, as "TYPE name". */
  queries: string[];
  /** Replace the records of one name (absent name: NXDOMAIN). */
  set(name: string, zone: Zone): void;
  remove(name: string): void;
  /** Resolves at the next question for `name` (of any type) after this call. */
  nextQuery(name: string): Promise<void>;
  close(): Promise<void>;
}

const TYPE_NAMES = new Map<number, string>(Object.entries(Packet.TYPE).map(([k, v]) => [v as number, k]));

export async function startDnsServer(): Promise<FakeDns> {
  const zones = new Map<string, Zone>();
  const waiters: Array<{ name: string; resolve: () => void }> = [];
  const queries: string[] = [];

  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request) as ReturnType<typeof Packet.createResponseFromRequest> & {
        header: { rcode: number; aa: number };
        answers: Array<Record<string, unknown>>;
      };
      const question = request.questions[0] as { name: string; type: number } | undefined;
      if (!question) return send(response);
      const name = question.name.toLowerCase().replace(/\.$/, "");
      queries.push(`${TYPE_NAMES.get(question.type) ?? question.type} ${name}`);
      for (const w of waiters.splice(0)) {
        if (w.name === name) w.resolve();
        else waiters.push(w);
      }
      const zone = zones.get(name);
      response.header.aa = 1;
      if (!zone) {
        response.header.rcode = 3; // NXDOMAIN
        return send(response);
      }
      if (zone.rcode !== undefined) {
        response.header.rcode = zone.rcode;
        return send(response);
      }
      const base = { name: question.name, class: Packet.CLASS.IN, ttl: 1 };
      if (question.type === Packet.TYPE.A)
        for (const address of zone.A ?? []) response.answers.push({ ...base, type: Packet.TYPE.A, address });
      if (question.type === Packet.TYPE.AAAA)
        for (const address of zone.AAAA ?? []) response.answers.push({ ...base, type: Packet.TYPE.AAAA, address });
      if (question.type === Packet.TYPE.SRV) {
        for (const r of zone.SRV ?? [])
          response.answers.push({
            ...base,
            type: Packet.TYPE.SRV,
            priority: r.priority ?? 0,
            weight: r.weight ?? 10,
            port: r.port,
            target: r.target,
          });
      }
      send(response);
    },
  });
  await server.listen({ udp: { port: 0, address: "127.0.0.1" } });
  await new Promise<void>((resolve) => setImmediate(resolve));
  const port = server.addresses().udp!.port;

  return {
    address: `127.0.0.1:${port}`,
    port,
    queries,
    set(name, zone) {
      zones.set(name.toLowerCase(), zone);
    },
    remove(name) {
      zones.delete(name.toLowerCase());
    },
    nextQuery(name) {
      return new Promise((resolve) => waiters.push({ name: name.toLowerCase(), resolve }));
    },
    close: () => server.close(),
  };
}
