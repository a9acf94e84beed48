/// Ed25519 key pairs made for the tests only (`openssl genpkey -algorithm ed25519`).
enum TestKeys {
    static let signingKey = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEILqX5WbtMl21GvV0C3bvbfjIvlul6DMz+njiWq8sT3YY
        -----END PRIVATE KEY-----
        """
    static let publicKey = """
        -----BEGIN PUBLIC KEY-----
        MCowBQYDK2VwAyEAhIqWYcqP/wOE/kOopLvCv35eOrLw8uIq/9FAgEKIvyM=
        -----END PUBLIC KEY-----
        """
    /// Another relay's pair: its tickets must not verify with `publicKey`.
    static let otherSigningKey = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIK3NKV8WUyPUKc1AfE9V9LA2QSmj38mH2EaDvx90YrN7
        -----END PRIVATE KEY-----
        """
}
