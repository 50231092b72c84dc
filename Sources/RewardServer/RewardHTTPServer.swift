// The Hummingbird application around RewardEndpoints. SIGTERM and SIGINT shut it down gracefully
// (swift-service-lifecycle): the listener closes and in-flight requests are answered first.
import Hummingbird
import Logging

public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Bodies larger than this are refused with 400.
    public var maxBodyBytes: Int

    public init(host: String = "127.0.0.1", port: Int = 8000, maxBodyBytes: Int = 32 << 20) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
    }
}

public enum RewardHTTPServer {
    /// Serves `endpoints` until SIGTERM/SIGINT; `onListening` receives the bound port (useful with port 0).
    /// Hummingbird logs warnings and errors only (to stderr, swift-log's default handler).
    public static func run(_ endpoints: RewardEndpoints, configuration: ServerConfiguration,
                           onListening: @escaping @Sendable (Int) -> Void) async throws {
        var logger = Logger(label: "refalign.serve-reward")
        logger.logLevel = .warning
        let router = Router()
        let limit = configuration.maxBodyBytes
        for (path, route) in [("/get_reward", Route.openRLHF), ("/", .openRLHF), ("/score", .score)] {
            router.post(RouterPath(path)) { request, _ in
                reply(await endpoints.respond(route, path: path) { try await collect(request, limit: limit) })
            }
        }
        router.get("/health") { _, _ in reply(endpoints.health()) }
        router.get("/metrics") { _, _ in reply(endpoints.metricsReply()) }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "refalign-serve-reward"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
        try await app.runService()
    }

    static func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        do {
            return Array(buffer: try await request.body.collect(upTo: limit))
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw RequestFailure(400, "body: larger than the limit of \(limit) bytes (--max-body-bytes)")
        }
    }

    static func reply(_ r: HTTPReply) -> Response {
        Response(status: .init(code: r.status), headers: [.contentType: r.contentType], body: .init(byteBuffer: ByteBuffer(string: r.body)))
    }
}
